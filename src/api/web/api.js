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

/**
 * POSTs a query with XMLHttpRequest, for its upload progress (fetch reports none). `timeoutMs` is
 * the server's request timeout: the page gives up first, so the server never answers 408, which
 * the browser would take as a cue to send the whole upload again.
 */
export function upload(query, variables, { signal, onProgress, timeoutMs }) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/graphql');
    xhr.setRequestHeader('content-type', 'application/json');
    xhr.setRequestHeader('accept', 'application/json');
    xhr.responseType = 'json';
    if (Number.isFinite(timeoutMs)) xhr.timeout = timeoutMs;
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    };
    xhr.onload = () => {
      const error = firstError(xhr.response, xhr.status);
      if (error) reject(error);
      else resolve(xhr.response.data);
    };
    xhr.onerror = () => reject(new ApiError('NETWORK', 'The request failed'));
    xhr.ontimeout = () => reject(new ApiError('UPLOAD_TIMEOUT', `No answer within ${timeoutMs} ms`));
    xhr.onabort = () => reject(new DOMException('Aborted', 'AbortError'));
    signal.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(JSON.stringify({ query, variables }));
  });
}
