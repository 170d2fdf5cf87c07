// GraphiQL served from our own node_modules (no CDN). Requests go to this server's /graphql as
// JSON POSTs, which satisfies Apollo's CSRF prevention; headers typed in the Headers tab
// (e.g. Authorization for mutations) are passed along.
/* global React, ReactDOM, GraphiQL */
const defaultQuery = `# Text -> image search. Try other texts: "a blue square", "a green triangle".
query TextToImage {
  searchImages(text: "a red circle", first: 5) {
    edges {
      score
      cursor
      node {
        id
        uri
        width
        height
        captions { text }
        thumbnailUrl
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}

# More: searchCaptions(image: { id: "1" }), similarImages, search(query: { text, image, negativeText }),
# images(filter: ...), indexInfo { images captions profile modelFingerprint dims projectionTrained }
`;

async function fetcher(params, options) {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...(options?.headers ?? {}) },
    body: JSON.stringify(params),
  });
  return response.json();
}

ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, { fetcher, defaultQuery, defaultEditorToolsVisibility: true }),
);
