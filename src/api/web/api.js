// Talking to /graphql for the search page: JSON POSTs, and errors as values the page can explain.

/** A failed request: `code` is the server's extensions.code, or one of ours (NETWORK, TIMEOUT, HTTP_<n>). */
export class ApiError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

function firstError(body, status) {
  const e = body?.errors?.[0];
  if (e) return new ApiError(e.extensions?.code ?? 'ERROR', e.message ?? '');
  if (status >= 400 || !body?.data) return new ApiError(`HTTP_${status}`, `HTTP ${status}`);
  return undefined;
}

/** POSTs a query; rejects with ApiError, or with the AbortError of `signal`. */
export async function graphql(query, variables, signal) {
  let response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ query, variables }),
      signal,
    });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError('NETWORK', error.message);
  }
  const body = await response.json().catch(() => undefined);
  const error = firstError(body, response.status);
  if (error) throw error;
  return body.data;
}
