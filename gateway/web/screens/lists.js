// The list manager: every watch list with its priority, scope and staleness;
// one list's entries (search, add, remove), a file import previewed as a
// diff before it is applied, and the misreads a fuzzy entry would accept
// with the stored plates it would have hit (misreads.js).
import { useState } from 'preact/hooks';
import { gql } from '../api.js';
import { ErrorBox, Loading, Pager, Time, ago, html, number, useQuery } from '../ui.js';
import { ImportForm } from './list-import.js';
import { MisreadPreview } from './misreads.js';

const LISTS = `{ hotlists { id name description priority matchMode maxCost siteIds cameraIds
  maxAgeSeconds source revision refreshedAt stale entryCount } }`;
const ENTRIES = `query Entries($name: String!, $filter: HotlistEntryFilter, $after: String) {
  hotlist(name: $name) { name matchMode maxCost entries(filter: $filter, first: 25, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { id plate region reason caseNumber effectiveMode effectiveMaxCost validUntil
      addedBy addedAt active } } } } }`;
const ADD = `mutation Add($hotlist: String!, $entry: HotlistEntryInput!) {
  addHotlistEntry(hotlist: $hotlist, entry: $entry) { id plate } }`;
const REMOVE = 'mutation Remove($id: ID!) { removeHotlistEntry(id: $id) { id plate } }';
const MODES = [['', "List's mode"], ['EXACT', 'Exact'], ['WILDCARD', 'Wildcard'], ['FUZZY', 'Fuzzy']];

const scope = (l) => (l.siteIds.length || l.cameraIds.length
  ? [...l.siteIds.map((s) => `site ${s}`), ...l.cameraIds.map((c) => `camera ${c}`)].join(', ')
  : 'every camera');
const mode = (m, cost) => (m === 'FUZZY' ? `fuzzy ≤ ${cost}` : m.toLowerCase());

function ListTable({ lists, chosen }) {
  return html`<table><caption>${lists.length} lists, most urgent first</caption>
    <thead><tr><th scope="col">List</th><th scope="col" class="num">Priority</th><th scope="col">Matching</th>
      <th scope="col">Scope</th><th scope="col" class="num">Entries</th><th scope="col">Refreshed</th>
      <th scope="col">Freshness</th><th scope="col">Source</th></tr></thead>
    <tbody>${lists.map((l) => html`<tr key=${l.id} class=${l.name === chosen ? 'selected' : ''}>
      <th scope="row"><a href=${`#/lists/${encodeURIComponent(l.name)}`}
        aria-current=${l.name === chosen ? 'true' : null}>${l.name}</a></th>
      <td class="num">${l.priority}</td><td>${mode(l.matchMode, l.maxCost)}</td><td>${scope(l)}</td>
      <td class="num">${number(l.entryCount)}</td><td><${Time} at=${l.refreshedAt} /></td>
      <td>${l.stale ? html`<strong class="bad">Stale</strong>` : l.maxAgeSeconds
        ? html`<span class="good">Fresh</span> <span class="muted">(max age ${ago(l.maxAgeSeconds)})</span>`
        : html`<span class="muted">no max age</span>`}</td>
      <td>${l.source}</td></tr>`)}</tbody></table>`;
}

function AddEntry({ list, onAdded, onPreview }) {
  const blank = { plate: '', reason: '', region: '', caseNumber: '', matchMode: '', maxCost: '' };
  const [form, setForm] = useState(blank);
  const [state, setState] = useState({ error: null, note: null });
  const set = (name) => (e) => setForm({ ...form, [name]: e.target.value });
  const effective = form.matchMode || list.matchMode;
  const submit = async (event) => {
    event.preventDefault();
    const entry = { plate: form.plate, reason: form.reason, region: form.region || null,
      caseNumber: form.caseNumber || null, matchMode: form.matchMode || null,
      maxCost: form.maxCost === '' ? null : Number(form.maxCost) };
    try {
      const added = (await gql(ADD, { hotlist: list.name, entry })).addHotlistEntry;
      setState({ error: null, note: `Entry ${added.plate} added.` });
      setForm(blank);
      onAdded();
    } catch (error) {
      setState({ error, note: null });
    }
  };
  return html`<form class="filters" onSubmit=${submit} aria-labelledby="add-title">
    <h3 id="add-title" class="inline">Add an entry</h3>
    <label for="add-plate">Plate</label><input id="add-plate" required maxlength="20" value=${form.plate} onInput=${set('plate')} />
    <label for="add-reason">Reason</label><input id="add-reason" required value=${form.reason} onInput=${set('reason')} />
    <label for="add-region">Region</label><input id="add-region" size="4" value=${form.region} onInput=${set('region')} />
    <label for="add-case">Case</label><input id="add-case" size="10" value=${form.caseNumber} onInput=${set('caseNumber')} />
    <label for="add-mode">Mode</label><select id="add-mode" value=${form.matchMode} onChange=${set('matchMode')}>
      ${MODES.map(([v, t]) => html`<option value=${v}>${t}</option>`)}</select>
    <label for="add-cost">Max cost</label><input id="add-cost" type="number" min="0" max="3" step="0.25" size="4"
      placeholder=${String(list.maxCost)} value=${form.maxCost} onInput=${set('maxCost')} />
    <button type="submit">Add</button>
    <button type="button" class="secondary" disabled=${effective !== 'FUZZY' || !form.plate.trim()}
      onClick=${() => onPreview({ plate: form.plate, maxCost: form.maxCost === '' ? list.maxCost : Number(form.maxCost) })}>
      Preview misreads</button>
    ${state.note ? html`<span role="status">${state.note}</span>` : null}
    <${ErrorBox} error=${state.error} />
  </form>`;
}

function RemoveButtons({ entry, confirming, setConfirming, onRemove }) {
  if (!entry.active) return null;
  if (confirming !== entry.id) {
    return html`<button type="button" class="secondary" aria-label=${`Remove ${entry.plate}`}
      onClick=${() => setConfirming(entry.id)}>Remove</button>`;
  }
  return html`<button type="button" class="danger" autofocus aria-label=${`Confirm removing ${entry.plate}: it stops matching at once`}
      onClick=${() => onRemove(entry)}>Confirm removal</button>
    <button type="button" class="secondary" onClick=${() => setConfirming(null)}>Keep</button>`;
}

function EntryRows({ entries, onRemove, onPreview }) {
  const [confirming, setConfirming] = useState(null);
  return entries.map((e) => html`<tr key=${e.id}>
    <td><span class="plate">${e.plate}</span> ${e.region || ''}</td><td>${e.reason}</td><td>${e.caseNumber || '—'}</td>
    <td>${mode(e.effectiveMode, e.effectiveMaxCost)}</td>
    <td>${e.validUntil ? html`<${Time} at=${e.validUntil} />` : '—'}</td>
    <td>${e.addedBy}, <${Time} at=${e.addedAt} /></td>
    <td>${e.active ? 'Active' : html`<span class="muted">Removed or expired</span>`}</td>
    <td class="actions">
      ${e.effectiveMode === 'FUZZY' ? html`<button type="button" class="secondary"
        aria-label=${`Preview misreads of ${e.plate}`}
        onClick=${() => onPreview({ plate: e.plate, maxCost: e.effectiveMaxCost })}>Misreads</button>` : null}
      <${RemoveButtons} entry=${e} confirming=${confirming} setConfirming=${setConfirming}
        onRemove=${onRemove} /></td></tr>`);
}

function Entries({ name, onPreview, generation, onChanged }) {
  const [search, setSearch] = useState({ plate: '', activeOnly: true });
  const [asked, setAsked] = useState({ plate: null, active: true });
  const [after, setAfter] = useState([null]);
  const [actionError, setActionError] = useState(null);
  const { data, error, loading, reload } = useQuery(ENTRIES,
    { name, filter: asked, after: after[after.length - 1] }, [name, asked, after, generation]);
  const remove = async (entry) => {
    setActionError(null);
    try { await gql(REMOVE, { id: entry.id }); reload(); onChanged(); } catch (e) { setActionError(e); }
  };
  const submit = (event) => {
    event.preventDefault();
    setAfter([null]);
    setAsked({ plate: search.plate.trim() || null, active: search.activeOnly ? true : null });
  };
  const page = data ? data.hotlist.entries : null;
  return html`<section aria-labelledby="entries-title"><h2 id="entries-title">Entries of ${name}</h2>
    <form class="filters" onSubmit=${submit}>
      <label for="entry-search">Plate (exact)</label>
      <input id="entry-search" value=${search.plate} onInput=${(e) => setSearch({ ...search, plate: e.target.value })} />
      <input id="entry-active" type="checkbox" checked=${search.activeOnly}
        onChange=${(e) => setSearch({ ...search, activeOnly: e.target.checked })} />
      <label for="entry-active">Active only</label>
      <button type="submit">Find</button>
    </form>
    <${ErrorBox} error=${error} /><${ErrorBox} error=${actionError} />
    ${loading && !page ? html`<${Loading} what="entries" />` : null}
    ${page ? html`<table><caption>Entries, newest first</caption>
      <thead><tr><th scope="col">Plate</th><th scope="col">Reason</th><th scope="col">Case</th><th scope="col">Matching</th>
        <th scope="col">Valid until</th><th scope="col">Added</th><th scope="col">State</th><th scope="col">Actions</th></tr></thead>
      <tbody><${EntryRows} entries=${page.edges.map((e) => e.node)} onRemove=${remove} onPreview=${onPreview} /></tbody></table>
      ${page.edges.length ? null : html`<p>No entry found.</p>`}
      <${Pager} label="Pages of entries" hasPrev=${after.length > 1 && !loading} hasNext=${page.pageInfo.hasNextPage && !loading}
        prev="← Newer" next="Older →" onPrev=${() => setAfter(after.slice(0, -1))}
        onNext=${() => setAfter([...after, page.pageInfo.endCursor])} />` : null}
  </section>`;
}

export function Lists({ arg }) {
  const { data, error, loading, reload } = useQuery(LISTS, {}, []);
  const [preview, setPreview] = useState(null);
  const [generation, setGeneration] = useState(0);
  const changed = () => { setGeneration((g) => g + 1); reload(); };
  if (error) return html`<h1>Lists</h1><${ErrorBox} error=${error} />`;
  if (loading && !data) return html`<h1>Lists</h1><${Loading} what="lists" />`;
  const list = data.hotlists.find((l) => l.name === arg) || null;
  return html`<h1>Lists</h1>
    <${ListTable} lists=${data.hotlists} chosen=${arg} />
    ${arg && !list ? html`<p class="error" role="alert">No list named ${arg}.</p>` : null}
    ${list ? html`
      <${AddEntry} list=${list} onAdded=${changed} onPreview=${setPreview} />
      ${preview ? html`<${MisreadPreview} key=${`${preview.plate}/${preview.maxCost}`} plate=${preview.plate}
        maxCost=${preview.maxCost} onDismiss=${() => setPreview(null)} />` : null}
      <${Entries} name=${list.name} onPreview=${setPreview} generation=${generation} onChanged=${changed} />
      <${ImportForm} list=${list} onImported=${changed} />` : html`<p>Choose a list to see and edit its entries.</p>`}`;
}
