// Plate search: one box for exact, wildcard and fuzzy, ranked by cost, with
// time/site/camera filters and cursor paging (a stack of cursors for "back").
import { useRef, useState } from 'preact/hooks';
import { gql } from '../api.js';
import { ErrorBox, Loading, Pager, PlacePicker, PlateLink, Time, fromLocalInput, html, number } from '../ui.js';

const SEARCH = `query Search($query: String!, $mode: SearchMode!, $filter: PlateSearchFilter,
    $first: Int!, $after: String, $maxDistance: Float!) {
  plateSearch(query: $query, mode: $mode, filter: $filter, first: $first, after: $after,
      maxDistance: $maxDistance) {
    complete
    pageInfo { hasNextPage endCursor }
    edges { node { plate score firstSeen lastSeen readCount lastRegion cameras } }
  } }`;
const PAGE = 20;

/** AUTO: a wildcard query when it has * or ?, else fuzzy (exact matches rank first, cost 0). */
export function modeOf(query, chosen) {
  if (chosen !== 'AUTO') return chosen;
  return /[*?]/.test(query) ? 'WILDCARD' : 'FUZZY';
}

export function Search() {
  const [form, setForm] = useState({ query: '', mode: 'AUTO', since: '', until: '', siteId: null,
    cameraId: null, maxDistance: 2 });
  const [asked, setAsked] = useState(null);
  const [cursors, setCursors] = useState([null]);
  const [result, setResult] = useState({ page: null, offset: 0, error: null, loading: false });

  // A page keeps the offset it was asked at: while the next one loads, the
  // shown rows and their numbers still agree, and the pager waits.
  // Only the newest request's answer is shown.
  const latest = useRef(0);
  const run = (request, after, offset) => {
    const asking = ++latest.current;
    const answer = (state) => asking === latest.current && setResult(state);
    setResult((r) => ({ ...r, loading: true }));
    const variables = {
      query: request.query, mode: modeOf(request.query, request.mode), first: PAGE, after,
      maxDistance: Number(request.maxDistance),
      filter: { since: fromLocalInput(request.since), until: fromLocalInput(request.until),
        siteId: request.siteId, cameraId: request.cameraId },
    };
    gql(SEARCH, variables).then(
      (data) => answer({ page: data.plateSearch, offset, error: null, loading: false }),
      (error) => answer({ page: null, offset, error, loading: false }),
    );
  };
  const submit = (event) => {
    event.preventDefault();
    setAsked(form);
    setCursors([null]);
    run(form, null, 0);
  };
  const next = () => {
    const after = result.page.pageInfo.endCursor;
    setCursors((c) => [...c, after]);
    run(asked, after, cursors.length * PAGE);
  };
  const prev = () => {
    const back = cursors.slice(0, -1);
    setCursors(back);
    run(asked, back[back.length - 1], (back.length - 1) * PAGE);
  };
  const set = (name) => (e) => setForm({ ...form, [name]: e.target.value });
  const page = result.page;
  const offset = result.offset;

  return html`<h1>Search plates</h1>
    <form class="search" role="search" onSubmit=${submit}>
      <div class="row">
        <label for="q">Plate</label>
        <input id="q" type="search" required value=${form.query} onInput=${set('query')}
          placeholder="AB123, AB?12*, or a fragment" aria-describedby="q-help" />
        <label for="mode">Match</label>
        <select id="mode" value=${form.mode} onChange=${set('mode')}>
          <option value="AUTO">Auto</option><option value="EXACT">Exact</option>
          <option value="WILDCARD">Wildcard</option><option value="FUZZY">Fuzzy (OCR misreads)</option>
        </select>
        <button type="submit">Search</button>
      </div>
      <p id="q-help" class="muted">Auto: wildcard when the text has * or ?, otherwise fuzzy, where
        exact matches come first (cost 0) and likely misreads follow by cost.</p>
      <div class="row">
        <label for="since">From</label><input id="since" type="datetime-local" value=${form.since} onInput=${set('since')} />
        <label for="until">Until</label><input id="until" type="datetime-local" value=${form.until} onInput=${set('until')} />
        <${PlacePicker} idPrefix="search" siteId=${form.siteId} cameraId=${form.cameraId}
          onChange=${(p) => setForm({ ...form, ...p })} />
        <label for="distance">Max cost</label>
        <input id="distance" type="number" min="0" max="4" step="0.25" value=${form.maxDistance} onInput=${set('maxDistance')} />
      </div>
    </form>
    <${ErrorBox} error=${result.error} />
    ${result.loading ? html`<${Loading} what="results" />` : null}
    ${page ? html`
      ${page.complete ? null : html`<p class="note">This wildcard has no three letters or digits in a row:
        only the most recently seen plates were searched.</p>`}
      <table>
        <caption>${page.edges.length ? `Results ${offset + 1}–${offset + page.edges.length}, best first` : 'No plate matches'}</caption>
        <thead><tr><th scope="col">Plate</th><th scope="col" class="num">Cost</th><th scope="col">First seen</th>
          <th scope="col">Last seen</th><th scope="col" class="num">Reads</th><th scope="col">Region</th><th scope="col">Cameras</th></tr></thead>
        <tbody>${page.edges.map(({ node: m }) => html`<tr key=${m.plate}>
          <td><${PlateLink} plate=${m.plate} /></td><td class="num">${m.score}</td>
          <td><${Time} at=${m.firstSeen} /></td><td><${Time} at=${m.lastSeen} /></td>
          <td class="num">${number(m.readCount)}</td><td>${m.lastRegion}</td><td>${m.cameras.join(', ')}</td>
        </tr>`)}</tbody>
      </table>
      <${Pager} label="Result pages" hasPrev=${cursors.length > 1 && !result.loading}
        hasNext=${page.pageInfo.hasNextPage && !result.loading}
        onPrev=${prev} onNext=${next} prev="← Previous" next="Next →" />` : null}`;
}
