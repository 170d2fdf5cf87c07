// Building the page's result elements. Text goes in through textContent only: captions are user data.

export function card(edge) {
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

export function captionItem(edge) {
  const li = document.createElement('li');
  li.textContent = edge.node.text;
  const s = document.createElement('span');
  s.className = 'score';
  s.textContent = edge.score.toFixed(3);
  li.append(s);
  return li;
}
