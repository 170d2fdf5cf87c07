// The search page: plain JS against /graphql, no framework, no CDN.
import { graphql, upload } from '/assets/api.js';
import { checkFile, explain, megabytes, nothingFound } from '/assets/messages.js';
import { captionItem, card } from '/assets/render.js';

const $ = (id) => document.getElementById(id);

const IMAGE_FIELDS = 'id uri width height format thumbnailUrl captions { text }';
const PAGE = `edges { score node { ${IMAGE_FIELDS} } } pageInfo { hasNextPage endCursor }`;
const TEXT_QUERY = `query Text($text: String!, $after: String) {
  searchImages(text: $text, first: 24, after: $after) { ${PAGE} }
}`;
const TOKEN_QUERY = 'query Upload($image: ImageInput!) { queryImageToken(image: $image) }';
const IMAGE_QUERY = `query Image($image: ImageInput!) {
  searchCaptions(image: $image, first: 8) { edges { score node { id text } } }
  similarImages(image: $image, first: 24) { ${PAGE} }
}`;
const MORE_IMAGES_QUERY = `query MoreImages($image: ImageInput!, $after: String) {
  similarImages(image: $image, first: 24, after: $after) { ${PAGE} }
}`;

/** Filled from indexInfo when the page loads; until then the server's own checks apply. */
let limits = { maxQueryText: Infinity, maxImageBytes: Infinity, requestTimeoutMs: Infinity };

/**
 * One search at a time. Each new request bumps `seq` and aborts the one in flight, and every
 * answer is checked against the `seq` it was sent under: a slow, stale answer never reaches the
 * screen. `search` is what More pages: its kind, variables and the cursor of the last page shown.
 */
let seq = 0;
let inFlight = null;
let search = null; // { kind: 'text' | 'image', variables, cursor, text? }

function setStatus(text, isError = false) {
  $('status').textContent = text;
  $('status').className = isError ? 'error' : '';
}

function setProgress(fraction) {
  $('progress').hidden = fraction === null;
  if (fraction !== null) $('progress').value = fraction;
}

/** Removes every result of the previous search (grid, captions, More). */
function clearResults() {
  $('results').replaceChildren();
  $('results').classList.remove('stale');
  $('results-title').hidden = true;
  $('query-image').hidden = true;
  $('captions').replaceChildren();
  $('more').hidden = true;
  setProgress(null);
}

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
  setProgress(null);
}

/** Shows a refusal or a failure in place of the old results: nothing stale stays on screen. */
function showError(message) {
  clearResults();
  setStatus(message, true);
}

function fail(request, error, context) {
  if (!request.current() || error.name === 'AbortError') return;
  showError(error.code ? explain(error, { ...context, limits }) : error.message);
}

/** Refuses, before any request, what the server would refuse. */
function refuse(message) {
  inFlight?.abort();
  inFlight = null;
  seq++;
  search = null;
  $('results').setAttribute('aria-busy', 'false');
  showError(message);
}

function showImages(connection, append, started) {
  if (!append) $('results').replaceChildren();
  $('results').classList.remove('stale');
  $('results-title').hidden = false;
  for (const edge of connection.edges) $('results').append(card(edge));
  search.cursor = connection.pageInfo.endCursor;
  $('more').hidden = !connection.pageInfo.hasNextPage;
  const n = $('results').children.length;
  if (n === 0) setStatus(nothingFound(search.kind, search.text));
  else setStatus(`${n} results in ${Math.round(Date.now() - started)} ms`);
}

/** A new search: old results stay, dimmed, until the answer replaces them; More goes. */
function markPending(kind) {
  $('results').classList.add('stale');
  $('more').hidden = true;
  if (kind === 'text') $('query-image').hidden = true;
  setStatus('Searching…');
}

async function runText(text) {
  const request = begin();
  search = { kind: 'text', variables: { text }, cursor: null, text };
  markPending('text');
  const started = Date.now();
  try {
    const data = await graphql(TEXT_QUERY, { text, after: null }, request.signal);
    if (request.current()) showImages(data.searchImages, false, started);
  } catch (error) {
    fail(request, error, { kind: 'text' });
  } finally {
    finish(request);
  }
}

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

/** Uploads the image once for a token, then searches (and pages, see more()) by that token. */
async function runImage(file) {
  const request = begin();
  search = { kind: 'image', variables: null, cursor: null };
  markPending('image');
  $('captions').replaceChildren();
  const started = Date.now();
  try {
    const dataUrl = await readAsDataUrl(file);
    if (!request.current()) return;
    $('query-preview').src = dataUrl;
    $('query-preview').alt = `Your image: ${file.name}`;
    $('query-image').hidden = false;
    const onProgress = (loaded, total) => {
      if (!request.current()) return;
      setProgress(loaded / total);
      setStatus(
        loaded < total
          ? `Uploading the image… ${Math.floor((100 * loaded) / total)}% (${megabytes(loaded)} of ${megabytes(total)})`
          : 'Searching…',
      );
    };
    const uploaded = await upload(
      TOKEN_QUERY,
      { image: { base64: dataUrl } },
      { signal: request.signal, onProgress, timeoutMs: limits.requestTimeoutMs },
    );
    if (!request.current()) return;
    setProgress(null);
    search.variables = { image: { token: uploaded.queryImageToken } };
    const data = await graphql(IMAGE_QUERY, search.variables, request.signal);
    if (!request.current()) return;
    $('captions').replaceChildren(...data.searchCaptions.edges.map(captionItem));
    showImages(data.similarImages, false, started);
  } catch (error) {
    fail(request, error, { kind: 'image', file });
  } finally {
    finish(request);
  }
}

async function more() {
  // Disabled while anything is in flight; the guard also covers a second click in the same task.
  if (!search?.cursor || inFlight) return;
  const request = begin();
  const query = search.kind === 'text' ? TEXT_QUERY : MORE_IMAGES_QUERY;
  setStatus('Loading more…');
  const started = Date.now();
  try {
    const data = await graphql(query, { ...search.variables, after: search.cursor }, request.signal);
    if (request.current())
      showImages(search.kind === 'text' ? data.searchImages : data.similarImages, true, started);
  } catch (error) {
    fail(request, error, { kind: search.kind === 'text' ? 'text' : 'more' });
  } finally {
    finish(request);
  }
}

/** Searches for a text; `push` adds it to the history (false when restoring from the URL). */
function searchText(text, push) {
  if (push) history.pushState({ q: text }, '', `/?${new URLSearchParams({ q: text })}`);
  if (text.length > limits.maxQueryText) {
    const n = text.length.toLocaleString('en');
    return refuse(
      `Your text is ${n} characters; the limit is ${limits.maxQueryText}. Shorten it and search again.`,
    );
  }
  void runText(text);
}

$('text-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = $('text').value.trim();
  if (text) searchText(text, text !== new URLSearchParams(location.search).get('q'));
});

async function searchByFile(file) {
  if (!file) return;
  const problem = checkFile(file, limits);
  if (problem) return refuse(problem);
  // An image is not kept in the URL: the entry marks that this search left the text one behind.
  if (location.search) history.pushState({ image: true }, '', '/');
  $('text').value = ''; // the results shown are for the image, not for the old text
  await runImage(file);
}

/** Shows the search the URL names: on load, and on Back/Forward. */
function restoreFromUrl() {
  const q = new URLSearchParams(location.search).get('q')?.trim() ?? '';
  $('text').value = q;
  if (q) return searchText(q, false);
  inFlight?.abort();
  inFlight = null;
  seq++;
  search = null;
  clearResults();
  $('results').setAttribute('aria-busy', 'false');
  setStatus('');
}

$('file').addEventListener('change', () => {
  void searchByFile($('file').files[0]);
  $('file').value = ''; // choosing the same file again is a new search
});
$('choose').addEventListener('click', () => $('file').click());
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
window.addEventListener('popstate', restoreFromUrl);

graphql(
  '{ indexInfo { images captions profile projectionTrained limits { maxQueryText maxImageBytes maxImagePixels requestTimeoutMs } } }',
)
  .then(({ indexInfo: i }) => {
    limits = i.limits;
    $('info').textContent =
      `${i.images} images · ${i.captions} captions · ${i.profile} models${i.projectionTrained ? '' : ' (untrained projection)'}`;
  })
  .catch((error) => setStatus(explain(error, { kind: 'info', limits }), true))
  .finally(restoreFromUrl);
