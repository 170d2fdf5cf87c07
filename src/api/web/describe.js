// The "Describe" panel of the search page: for the image dropped on the page, zero-shot labels
// (classify with `labels`) and the match probability of a typed text (matchScore). Self-contained:
// it builds its own DOM and follows the query image through #query-preview, so app.js is untouched.
const $ = (id) => document.getElementById(id);

const DEFAULT_LABELS = 'a red circle, a blue square, a green triangle, a yellow star, an orange shape';
const LABELS_QUERY = `query Describe($image: ImageInput!, $labels: [String!]!) {
  classify(image: $image, labels: $labels) { labels { label probability } }
}`;
const MATCH_QUERY = `query Match($image: ImageInput!, $texts: [String!]!) {
  matchScore(image: $image, texts: $texts) { text probability }
}`;

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

function element(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function buildPanel() {
  const link = element('link', { rel: 'stylesheet', href: '/assets/describe.css' });
  document.head.append(link);
  const panel = element('section', { id: 'describe', hidden: true }, [
    element('h2', { textContent: 'Describe this image' }),
    element('form', { id: 'describe-labels-form', autocomplete: 'off' }, [
      element('label', { htmlFor: 'describe-labels', textContent: 'Labels (comma-separated)' }),
      element('input', { id: 'describe-labels', value: DEFAULT_LABELS, maxLength: 1000 }),
      element('button', { type: 'submit', textContent: 'Rank labels' }),
    ]),
    element('ol', { id: 'describe-ranked' }),
    element('form', { id: 'describe-match-form', autocomplete: 'off' }, [
      element('label', { htmlFor: 'describe-text', textContent: 'Does this text match?' }),
      element('input', {
        id: 'describe-text',
        placeholder: 'a small red circle on the left',
        maxLength: 1000,
      }),
      element('button', { type: 'submit', textContent: 'Score' }),
    ]),
    element('p', { id: 'describe-match', role: 'status' }),
  ]);
  $('query-image').after(panel);
  return panel;
}

const panel = buildPanel();
let image = null;

function row(label, probability) {
  return element('li', {}, [
    element('span', { className: 'label', textContent: label }),
    element('meter', { min: 0, max: 1, value: probability }),
    element('span', { className: 'probability', textContent: `${(100 * probability).toFixed(1)}%` }),
  ]);
}

async function rankLabels() {
  const labels = $('describe-labels')
    .value.split(',')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const list = $('describe-ranked');
  if (!image || labels.length === 0) return;
  try {
    const { classify } = await graphql(LABELS_QUERY, { image, labels });
    list.replaceChildren(...classify.labels.slice(0, 5).map((l) => row(l.label, l.probability)));
  } catch (error) {
    list.replaceChildren(element('li', { className: 'error', textContent: error.message }));
  }
}

async function scoreText() {
  const text = $('describe-text').value.trim();
  const out = $('describe-match');
  if (!image || text === '') return;
  try {
    const { matchScore } = await graphql(MATCH_QUERY, { image, texts: [text] });
    const p = matchScore[0].probability;
    out.className = '';
    out.replaceChildren(
      element('span', { textContent: `match probability ${(100 * p).toFixed(1)}% ` }),
      element('meter', { min: 0, max: 1, value: p }),
    );
  } catch (error) {
    out.className = 'error';
    out.textContent = error.message;
  }
}

$('describe-labels-form').addEventListener('submit', (event) => {
  event.preventDefault();
  void rankLabels();
});
$('describe-match-form').addEventListener('submit', (event) => {
  event.preventDefault();
  void scoreText();
});

// The search box is cleared when an image search starts (the URL cannot hold an image), so keep
// what was typed last as the text to score.
let lastTyped = '';
$('text').addEventListener('input', () => {
  if ($('text').value.trim() !== '') lastTyped = $('text').value;
});

// app.js sets the preview to the dropped image's data: URL; the panel describes whichever image is shown.
new window.MutationObserver(() => {
  const src = $('query-preview').getAttribute('src') ?? '';
  if (!src.startsWith('data:')) return;
  image = { base64: src };
  panel.hidden = false;
  if ($('describe-text').value === '') $('describe-text').value = $('text').value || lastTyped;
  // On demand only: describing sends the image's bytes again (a trained classifier needs its
  // pixels), which the search itself never does once it holds a query token.
  $('describe-ranked').replaceChildren();
  $('describe-match').replaceChildren();
}).observe($('query-preview'), { attributes: true, attributeFilter: ['src'] });
