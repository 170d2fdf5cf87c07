// The search page: plain JS against /graphql (JSON POSTs), no framework, no CDN.
import { graphql } from '/assets/api.js';

const $ = (id) => document.getElementById(id);

const IMAGE_FIELDS = 'id uri width height format thumbnailUrl captions { text }';
const TEXT_QUERY = `query Text($text: String!, $after: String) {
  searchImages(text: $text, first: 24, after: $after) {
    edges { score node { ${IMAGE_FIELDS} } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const IMAGE_QUERY = `query Image($image: ImageInput!) {
  searchCaptions(image: $image, first: 8) { edges { score node { id text image { id } } } }
  similarImages(image: $image, first: 24) {
    edges { score node { ${IMAGE_FIELDS} } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const MORE_IMAGES_QUERY = `query MoreImages($image: ImageInput!, $after: String) {
  similarImages(image: $image, first: 24, after: $after) {
    edges { score node { ${IMAGE_FIELDS} } }
    pageInfo { hasNextPage endCursor }
  }
}`;

/**
 * One search at a time. Each new search bumps `seq` and aborts the request in flight, and every
 * answer is checked against the `seq` it was sent under: a slow, stale answer never reaches the
 * screen. `search` is what More pages: its kind, variables and the cursor of the last page shown.
 */
let seq = 0;
let inFlight = null; // AbortController of the request now running
let search = null; // { kind: 'text' | 'image', variables, cursor, shown }

function setStatus(text, isError = false) {
  $('status').textContent = text;
  $('status').className = isError ? 'error' : '';
}

function card(edge) {
  const node = edge.node;
  const el = document.createElement('figure');
  el.className = 'card';
  el.dataset.id = node.id;
  const img = document.createElement('img');
  img.src = node.thumbnailUrl;
  img.alt = node.captions[0]?.text ?? node.uri;
  img.loading = 'lazy';
  const meta = document.createElement('figcaption');
  meta.className = 'meta';
  const score = document.createElement('div');
  score.className = 'score';
  score.textContent = `score ${edge.score.toFixed(3)} · #${node.id}`;
  meta.append(score);
  for (const caption of node.captions.slice(0, 2)) {
    const c = document.createElement('div');
    c.className = 'caption';
    c.textContent = caption.text;
    meta.append(c);
  }
  el.append(img, meta);
  return el;
}

function captionItem(edge) {
  const li = document.createElement('li');
  li.textContent = edge.node.text;
  const s = document.createElement('span');
  s.className = 'score';
  s.textContent = edge.score.toFixed(3);
  li.append(s);
  return li;
}

/** Removes every result of the previous search (grid, captions, More). */
function clearResults() {
  $('results').replaceChildren();
  $('results').classList.remove('stale');
  $('results-title').hidden = true;
  $('query-image').hidden = true;
  $('captions').replaceChildren();
  $('more').hidden = true;
}

function showImages(connection, append) {
  if (!append) $('results').replaceChildren();
  $('results').classList.remove('stale');
  $('results-title').hidden = false;
  for (const edge of connection.edges) $('results').append(card(edge));
  search.cursor = connection.pageInfo.endCursor;
  $('more').hidden = !connection.pageInfo.hasNextPage;
}

/**
 * Starts a request for the current search: aborts the one in flight, and returns a checker that
 * says whether an answer is still wanted, or null-ish `abort` when another search replaced it.
 */
function begin() {
  inFlight?.abort();
  inFlight = new AbortController();
  const mine = ++seq;
  $('more').disabled = true;
  $('results').setAttribute('aria-busy', 'true');
  return { signal: inFlight.signal, current: () => mine === seq };
}

function finish(request) {
  if (!request.current()) return;
  inFlight = null;
  $('more').disabled = false;
  $('results').setAttribute('aria-busy', 'false');
}

function fail(request, error) {
  if (!request.current() || error.name === 'AbortError') return;
  clearResults();
  setStatus(`${error.code ? `${error.code}: ` : ''}${error.message}`, true);
}

function done(started) {
  setStatus(`${$('results').children.length} results in ${Math.round(Date.now() - started)} ms`);
}

async function runText(text) {
  const request = begin();
  search = { kind: 'text', variables: { text }, cursor: null };
  $('query-image').hidden = true;
  $('results').classList.add('stale');
  $('more').hidden = true;
  setStatus('Searching…');
  const started = Date.now();
  try {
    const data = await graphql(TEXT_QUERY, { text, after: null }, request.signal);
    if (!request.current()) return;
    showImages(data.searchImages, false);
    done(started);
  } catch (error) {
    fail(request, error);
  } finally {
    finish(request);
  }
}

async function runImage(image) {
  const request = begin();
  search = { kind: 'image', variables: { image }, cursor: null };
  $('results').classList.add('stale');
  $('captions').replaceChildren();
  $('more').hidden = true;
  setStatus('Searching…');
  const started = Date.now();
  try {
    const data = await graphql(IMAGE_QUERY, { image }, request.signal);
    if (!request.current()) return;
    $('captions').replaceChildren(...data.searchCaptions.edges.map(captionItem));
    showImages(data.similarImages, false);
    done(started);
  } catch (error) {
    fail(request, error);
  } finally {
    finish(request);
  }
}

async function more() {
  // Disabled while anything is in flight; the guard covers a second click in the same task.
  if (!search?.cursor || inFlight || $('more').disabled) return;
  const request = begin();
  const query = search.kind === 'text' ? TEXT_QUERY : MORE_IMAGES_QUERY;
  setStatus('Loading more…');
  const started = Date.now();
  try {
    const data = await graphql(query, { ...search.variables, after: search.cursor }, request.signal);
    if (!request.current()) return;
    showImages(search.kind === 'text' ? data.searchImages : data.similarImages, true);
    done(started);
  } catch (error) {
    fail(request, error);
  } finally {
    finish(request);
  }
}

/** Filled from indexInfo when the page loads; until then the server's own checks apply. */
let limits = { maxQueryText: Infinity, maxImageBytes: Infinity };

/** Refuses, before any request, what the server would refuse: the old results go, the error shows. */
function refuse(message) {
  inFlight?.abort();
  inFlight = null;
  seq++;
  search = null;
  clearResults();
  $('results').setAttribute('aria-busy', 'false');
  setStatus(message, true);
}

$('text-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = $('text').value.trim();
  if (!text) return;
  if (text.length > limits.maxQueryText) {
    const n = text.length.toLocaleString('en');
    return refuse(
      `Your text is ${n} characters; the limit is ${limits.maxQueryText}. Shorten it and search again.`,
    );
  }
  void runText(text);
});

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function searchByFile(file) {
  if (!file) return;
  if (file.size === 0) return refuse(`${file.name} is empty (0 bytes). Choose an image file.`);
  const dataUrl = await readAsDataUrl(file);
  $('query-preview').src = dataUrl;
  $('query-image').hidden = false;
  await runImage({ base64: dataUrl });
}

$('file').addEventListener('change', () => void searchByFile($('file').files[0]));
$('drop').addEventListener('dragover', (event) => {
  event.preventDefault();
  $('drop').classList.add('over');
});
$('drop').addEventListener('dragleave', () => $('drop').classList.remove('over'));
$('drop').addEventListener('drop', (event) => {
  event.preventDefault();
  $('drop').classList.remove('over');
  void searchByFile(event.dataTransfer.files[0]);
});
$('more').addEventListener('click', () => void more());

graphql('{ indexInfo { images captions profile projectionTrained limits { maxQueryText maxImageBytes } } }')
  .then(({ indexInfo: i }) => {
    limits = i.limits;
    $('info').textContent =
      `${i.images} images · ${i.captions} captions · ${i.profile} models${i.projectionTrained ? '' : ' (untrained projection)'}`;
  })
  .catch((error) => setStatus(error.message, true));
