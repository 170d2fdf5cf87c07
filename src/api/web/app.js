// The search page: plain JS against /graphql (JSON POSTs), no framework, no CDN.
const $ = (id) => document.getElementById(id);

const IMAGE_FIELDS = 'id uri width height format thumbnailUrl captions { text }';
const TEXT_QUERY = `query Text($text: String!, $after: String) {
  searchImages(text: $text, first: 24, after: $after) {
    edges { score node { ${IMAGE_FIELDS} } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const IMAGE_QUERY = `query Image($image: ImageInput!, $after: String) {
  searchCaptions(image: $image, first: 8) { edges { score node { id text image { id } } } }
  similarImages(image: $image, first: 24, after: $after) {
    edges { score node { ${IMAGE_FIELDS} } }
    pageInfo { hasNextPage endCursor }
  }
}`;

let current = null; // { kind: 'text' | 'image', variables, cursor }

async function graphql(query, variables) {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json().catch(() => ({ errors: [{ message: `HTTP ${response.status}` }] }));
  if (body.errors?.length) {
    const e = body.errors[0];
    throw new Error(`${e.extensions?.code ?? 'ERROR'}: ${e.message}`);
  }
  return body.data;
}

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

function showImages(connection, append) {
  if (!append) $('results').replaceChildren();
  $('results-title').hidden = false;
  for (const edge of connection.edges) $('results').append(card(edge));
  $('more').hidden = !connection.pageInfo.hasNextPage;
  current.cursor = connection.pageInfo.endCursor;
}

async function run(append = false) {
  const variables = { ...current.variables, after: append ? current.cursor : null };
  setStatus('Searching…');
  const started = Date.now();
  try {
    if (current.kind === 'text') {
      const data = await graphql(TEXT_QUERY, variables);
      showImages(data.searchImages, append);
    } else {
      const data = await graphql(IMAGE_QUERY, variables);
      if (!append) {
        $('captions').replaceChildren(
          ...data.searchCaptions.edges.map((edge) => {
            const li = document.createElement('li');
            li.textContent = edge.node.text;
            const s = document.createElement('span');
            s.className = 'score';
            s.textContent = edge.score.toFixed(3);
            li.append(s);
            return li;
          }),
        );
      }
      showImages(data.similarImages, append);
    }
    setStatus(`${$('results').children.length} results in ${Math.round(Date.now() - started)} ms`);
  } catch (error) {
    setStatus(error.message, true);
  }
}

$('text-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = $('text').value.trim();
  if (!text) return;
  $('query-image').hidden = true;
  current = { kind: 'text', variables: { text } };
  void run();
});

function readAsBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function searchByFile(file) {
  if (!file) return;
  const dataUrl = await readAsBase64(file);
  $('query-preview').src = dataUrl;
  $('query-image').hidden = false;
  current = { kind: 'image', variables: { image: { base64: dataUrl } } };
  await run();
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
$('more').addEventListener('click', () => void run(true));

graphql('{ indexInfo { images captions profile projectionTrained } }')
  .then(({ indexInfo: i }) => {
    $('info').textContent =
      `${i.images} images · ${i.captions} captions · ${i.profile} models${i.projectionTrained ? '' : ' (untrained projection)'}`;
  })
  .catch((error) => setStatus(error.message, true));
