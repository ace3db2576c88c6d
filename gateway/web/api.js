// The gateway's public API, as any client uses it: GraphQL over HTTP with the
// key in the Authorization header and the purpose in X-Purpose; live reads
// over graphql-ws with the same two in the connection_init payload. The key
// lives in sessionStorage only (gone when the tab closes), never in a URL.
import { createClient } from 'graphql-ws';

const KEY = 'alpr.key';
const PURPOSE = 'alpr.purpose';

export const session = {
  get key() { return sessionStorage.getItem(KEY) || ''; },
  set key(value) { value ? sessionStorage.setItem(KEY, value) : sessionStorage.removeItem(KEY); },
  get purpose() { return sessionStorage.getItem(PURPOSE) || ''; },
  set purpose(value) {
    value ? sessionStorage.setItem(PURPOSE, value) : sessionStorage.removeItem(PURPOSE);
  },
};

/** An error the API answered, with its code (UNAUTHENTICATED, FORBIDDEN, ...). */
export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code || 'ERROR';
  }
}

/** What to tell the user about an API error: the gateway's own words, and what to do. */
export function explain(error) {
  const message = error.message || String(error);
  if (error.code === 'UNAUTHENTICATED') return `Sign in with an API key: ${message}.`;
  if (error.code === 'FORBIDDEN' && /purpose/i.test(message)) {
    return 'This gateway requires a purpose for reading plate data: ' +
      'enter it in the "Purpose" field at the top of the page.';
  }
  if (error.code === 'FORBIDDEN') return `Your API key cannot do this: ${message}.`;
  if (error.code === 'TOO_MANY_REQUESTS') return `Too many requests; wait a moment (${message}).`;
  return message;
}

function headers() {
  const h = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (session.key) h.Authorization = `Bearer ${session.key}`;
  if (session.purpose) h['X-Purpose'] = session.purpose;
  return h;
}

/** Run a GraphQL query; its data, or an ApiError with the first error's code. */
export async function gql(query, variables = {}) {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: headers(),
    body: JSON.stringify({ query, variables }),
  });
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`the gateway answered HTTP ${response.status}`, 'HTTP');
  }
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    const error = new ApiError(first.message, first.extensions && first.extensions.code);
    if (error.code === 'UNAUTHENTICATED') window.dispatchEvent(new CustomEvent('alpr-signin'));
    throw error;
  }
  return body.data;
}

let socket = null;
let connections = 0;
const reconnected = new Set();

/** Call `fn` each time the live connection is made again after a drop
 * (subscriptions resume, but what happened meanwhile was not sent);
 * returns the function that stops calling it. */
export function onReconnect(fn) {
  reconnected.add(fn);
  return () => reconnected.delete(fn);
}

function liveClient() {
  if (socket === null) {
    connections = 0;
    socket = createClient({
      on: {
        connected: () => {
          connections += 1;
          if (connections > 1) reconnected.forEach((fn) => fn());
        },
      },
      url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`,
      connectionParams: () => {
        const params = {};
        if (session.key) params.authorization = `Bearer ${session.key}`;
        if (session.purpose) params.purpose = session.purpose;
        return params;
      },
      retryAttempts: 30,
      keepAlive: 20000,
    });
  }
  return socket;
}

const RESUBSCRIBE_MS = 1000;

/** Subscribe; `onData(data)` per result, `onError(ApiError)`; returns the
 * unsubscribe function. A subscription the server ends (a gateway restart
 * closes it normally) is made again, so a screen left open keeps receiving;
 * `onReconnect` tells what to fetch for the gap. */
export function subscribe(query, variables, onData, onError) {
  let stopped = false;
  let stop = () => {};
  const start = () => {
    stop = liveClient().subscribe({ query, variables }, {
      next: (result) => {
        if (result.errors && result.errors.length) {
          const first = result.errors[0];
          onError(new ApiError(first.message, first.extensions && first.extensions.code));
        } else {
          onData(result.data);
        }
      },
      error: (error) => onError(liveError(error)),
      complete: () => {
        if (!stopped) setTimeout(() => { if (!stopped) start(); }, RESUBSCRIBE_MS);
      },
    });
  };
  start();
  return () => { stopped = true; stop(); };
}

function liveError(error) {
  if (Array.isArray(error) && error.length) {
    // The server refused the subscription itself (graphql-ws "error").
    const first = error[0];
    return new ApiError(first.message, first.extensions && first.extensions.code);
  }
  const reason = error && error.reason ? error.reason : 'the live connection closed';
  const code = error && error.code === 4403 ? 'FORBIDDEN' : 'LIVE';
  return new ApiError(reason, code);
}

/** Close the live connection (after the key or purpose changed). */
export function resetLive() {
  if (socket !== null) socket.dispose();
  socket = null;
}
