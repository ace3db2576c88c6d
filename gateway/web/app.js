// The dashboard's shell: sign-in, the screen list, the hash router.
// A screen is a module in screens/ listed in screens/index.js; adding one
// (e.g. an alerts inbox) is one more entry there.
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, explain, gql, resetLive, session } from './api.js';
import { SCREENS } from './screens/index.js';
import { html } from './ui.js';

/** `#/plate/AB123?x=1` → {name: 'plate', arg: 'AB123'}. */
function parseRoute() {
  const path = (location.hash.replace(/^#\/?/, '') || SCREENS[0].path).split('?')[0];
  const [name, ...rest] = path.split('/');
  return { name, arg: rest.length ? decodeURIComponent(rest.join('/')) : null };
}

function useRoute() {
  const [route, setRoute] = useState(parseRoute());
  useEffect(() => {
    const changed = () => setRoute(parseRoute());
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return route;
}

/** Whether the gateway answers this browser: 'ok', 'signin', or an error. */
async function probe() {
  try {
    await gql('{ __typename }');
    return { state: 'ok' };
  } catch (error) {
    if (error instanceof ApiError && error.code === 'UNAUTHENTICATED') {
      return { state: 'signin', error: session.key ? error : null };
    }
    return { state: 'error', error };
  }
}

function SignIn({ error, onDone }) {
  const [key, setKey] = useState('');
  const input = useRef(null);
  useEffect(() => input.current && input.current.focus(), []);
  const submit = (event) => {
    event.preventDefault();
    session.key = key.trim();
    resetLive();
    onDone();
  };
  return html`<main id="main" class="signin">
    <h1>ALPR dashboard</h1>
    <form onSubmit=${submit} aria-describedby="signin-help">
      <p id="signin-help">This gateway needs an API key. It is kept for this browser tab only
        (session storage) and sent in a request header, never in a link.</p>
      ${error ? html`<p class="error" role="alert">${explain(error)}</p>` : null}
      <label for="signin-key">API key</label>
      <input id="signin-key" ref=${input} type="password" autocomplete="off" required
        value=${key} onInput=${(e) => setKey(e.target.value)} />
      <button type="submit">Sign in</button>
    </form>
  </main>`;
}

/** The purpose sent with every request; `onChange` once it is set, so the screen asks again. */
function Purpose({ onChange }) {
  const [value, setValue] = useState(session.purpose);
  const save = (event) => {
    event.preventDefault();
    session.purpose = value.trim();
    resetLive();
    onChange();
  };
  return html`<form class="purpose" onSubmit=${save}>
    <label for="purpose">Purpose</label>
    <input id="purpose" value=${value} maxlength="200" placeholder="e.g. case 2026-114"
      onInput=${(e) => setValue(e.target.value)} />
    <button type="submit">Set</button>
  </form>`;
}

function Shell({ onSignOut }) {
  const route = useRoute();
  const main = useRef(null);
  // Bumped when the purpose changes: the screen is made anew and asks again.
  const [generation, setGeneration] = useState(0);
  const screen = SCREENS.find((s) => s.path === route.name) || SCREENS[0];
  useEffect(() => {
    document.title = `${screen.title} · ALPR dashboard`;
    if (main.current) main.current.focus({ preventScroll: true });
  }, [route.name, route.arg]);
  const View = screen.view;
  return html`
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); main.current.focus(); }}>
      Skip to content</a>
    <header>
      <span class="brand">ALPR</span>
      <nav aria-label="Screens">
        <ul>
          ${SCREENS.filter((s) => !s.hidden).map((s) => html`<li>
            <a href=${`#/${s.path}`} aria-current=${s === screen ? 'page' : null}>${s.title}</a>
          </li>`)}
        </ul>
      </nav>
      <${Purpose} onChange=${() => setGeneration((g) => g + 1)} />
      ${session.key ? html`<button type="button" class="signout" onClick=${onSignOut}>Sign out</button>` : null}
    </header>
    <main id="main" ref=${main} tabindex="-1">
      <${View} key=${`${screen.path}/${route.arg || ''}/${generation}`} arg=${route.arg} />
    </main>`;
}

function App() {
  const [status, setStatus] = useState({ state: 'probing' });
  const check = () => probe().then(setStatus);
  useEffect(() => {
    check();
    const signin = () => setStatus({ state: 'signin', error: null });
    window.addEventListener('alpr-signin', signin);
    return () => window.removeEventListener('alpr-signin', signin);
  }, []);
  const signOut = () => { session.key = ''; resetLive(); check(); };
  if (status.state === 'probing') return html`<p class="boot" role="status">Connecting…</p>`;
  if (status.state === 'signin') return html`<${SignIn} error=${status.error} onDone=${check} />`;
  if (status.state === 'error') {
    return html`<main id="main"><h1>ALPR dashboard</h1>
      <p class="error" role="alert">The gateway cannot be reached: ${explain(status.error)}</p>
      <button type="button" onClick=${check}>Retry</button></main>`;
  }
  return html`<${Shell} onSignOut=${signOut} />`;
}

render(html`<${App} />`, document.getElementById('app'));
