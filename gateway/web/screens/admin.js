// For administrators (admin scope): the audit log, filtered and paged by
// record id, and the legal holds.
import { useState } from 'preact/hooks';
import { ErrorBox, Loading, Pager, Time, html, number, useQuery } from '../ui.js';
import { PlaceHold, ReleaseHold } from './holds.js';

const AUDIT = `query Audit($first: Int!, $beforeId: ID, $keyId: String) {
  auditLog(first: $first, beforeId: $beforeId, keyId: $keyId) {
    id at keyId client operation variables resultCount purpose } }`;
const HOLDS = `query AllHolds($caseNumber: String, $includeReleased: Boolean!) {
  legalHolds(caseNumber: $caseNumber, includeReleased: $includeReleased) {
    id plate eventId caseNumber reason createdBy createdAt active heldFrom heldUntil releasedAt releasedBy } }`;
const PAGE = 50;

function AuditLog() {
  const [filter, setFilter] = useState({ keyId: '', text: '' });
  const [asked, setAsked] = useState({ keyId: null });
  const [stack, setStack] = useState([null]);
  const beforeId = stack[stack.length - 1];
  const { data, error, loading } = useQuery(AUDIT, { first: PAGE, beforeId, keyId: asked.keyId },
    [beforeId, asked.keyId]);
  const text = filter.text.trim().toLowerCase();
  const records = data ? data.auditLog.filter((r) => !text ||
    `${r.operation} ${r.purpose || ''} ${JSON.stringify(r.variables)}`.toLowerCase().includes(text)) : [];
  const apply = (e) => { e.preventDefault(); setStack([null]); setAsked({ keyId: filter.keyId.trim() || null }); };
  return html`<section aria-labelledby="audit-title"><h2 id="audit-title">Audit log</h2>
    <form class="filters" onSubmit=${apply}>
      <label for="audit-key">Key id</label>
      <input id="audit-key" value=${filter.keyId} onInput=${(e) => setFilter({ ...filter, keyId: e.target.value })} />
      <label for="audit-text">Operation, purpose or variables contain</label>
      <input id="audit-text" value=${filter.text} onInput=${(e) => setFilter({ ...filter, text: e.target.value })} />
      <button type="submit">Filter</button>
    </form>
    <${ErrorBox} error=${error} />
    ${loading && !data ? html`<${Loading} what="the audit log" />` : null}
    ${data ? html`<table><caption>Audited operations, newest first</caption>
      <thead><tr><th scope="col">#</th><th scope="col">At</th><th scope="col">Key</th><th scope="col">Client</th>
        <th scope="col">Operation</th><th scope="col">Variables</th><th scope="col" class="num">Results</th><th scope="col">Purpose</th></tr></thead>
      <tbody>${records.map((r) => html`<tr key=${r.id}><td>${r.id}</td><td><${Time} at=${r.at} /></td>
        <td>${r.keyId || '—'}</td><td>${r.client || '—'}</td><td>${r.operation}</td>
        <td><code>${JSON.stringify(r.variables)}</code></td><td class="num">${number(r.resultCount)}</td><td>${r.purpose || '—'}</td></tr>`)}
      </tbody></table>
      <${Pager} label="Audit pages" hasPrev=${stack.length > 1 && !loading}
        hasNext=${data.auditLog.length === PAGE && !loading}
        onPrev=${() => setStack(stack.slice(0, -1))}
        onNext=${() => setStack([...stack, data.auditLog[data.auditLog.length - 1].id])} />` : null}
  </section>`;
}

function Holds() {
  const [caseNumber, setCaseNumber] = useState('');
  const [asked, setAsked] = useState({ caseNumber: null, includeReleased: false });
  const { data, error, reload } = useQuery(HOLDS, asked, [asked.caseNumber, asked.includeReleased]);
  return html`<section aria-labelledby="holds-title"><h2 id="holds-title">Legal holds</h2>
    <form class="filters" onSubmit=${(e) => { e.preventDefault(); setAsked({ ...asked, caseNumber: caseNumber.trim() || null }); }}>
      <label for="hold-case">Case</label>
      <input id="hold-case" value=${caseNumber} onInput=${(e) => setCaseNumber(e.target.value)} />
      <input id="hold-released" type="checkbox" checked=${asked.includeReleased}
        onChange=${(e) => setAsked({ ...asked, includeReleased: e.target.checked })} />
      <label for="hold-released">Released holds too</label>
      <button type="submit">Filter</button>
    </form>
    <${ErrorBox} error=${error} />
    ${error ? null : html`<h3>Place a hold</h3><${PlaceHold} idPrefix="admin-hold" onDone=${reload} />`}
    ${data ? html`<table><caption>${data.legalHolds.length} holds, in the order placed </caption>
      <thead><tr><th scope="col">#</th><th scope="col">On</th><th scope="col">Case</th><th scope="col">Reason</th>
        <th scope="col">Placed</th><th scope="col">State</th></tr></thead>
      <tbody>${data.legalHolds.map((h) => html`<tr key=${h.id}><td>${h.id}</td>
        <td>${h.plate ? html`plate <a href=${`#/plate/${encodeURIComponent(h.plate)}`}>${h.plate}</a>` : `read ${h.eventId}`}</td>
        <td>${h.caseNumber || '—'}</td><td>${h.reason}</td><td>${h.createdBy}, <${Time} at=${h.createdAt} /></td>
        <td>${h.active ? html`Active <${ReleaseHold} hold=${h} onDone=${reload} />` : html`Released by ${h.releasedBy}, <${Time} at=${h.releasedAt} />`}</td></tr>`)}
      </tbody></table>` : null}
  </section>`;
}

export function Admin() {
  return html`<h1>Admin</h1><${AuditLog} /><${Holds} />`;
}
