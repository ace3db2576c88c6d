// One alert opened: its reads (with images), entry, list, and for a fuzzy hit
// the characters that differ; and the dialog that closes an alert with a
// disposition and the verification checklist (CONFIRMED needs every answer,
// as the API enforces; its refusal is shown as it comes).
import { useEffect, useRef, useState } from 'preact/hooks';
import { gql } from '../api.js';
import { ErrorBox, Loading, PlateLink, Time, html, percent, useQuery } from '../ui.js';

export const ALERT_FIELDS = `id hotlistName priority reason plateRead entryPlate entryRegion cost edits
  regionMismatch historical cameraId siteId firstSeen lastSeen readCount raisedAt status
  acknowledgedAt acknowledgedBy closedAt closedBy disposition dispositionNote`;
const DETAIL = `query AlertDetail($id: ID!) { alert(id: $id) {
  id checklist { imageMatchesEntry regionMatches entryStillActive }
  reads { eventId capturedAt confidence event { id cameraId plateText plateRegion
    plateImageUrl vehicleImageUrl frameImageUrl vehicleMake vehicleColor } }
  entry { id plate region reason caseNumber agency recordNumber notes effectiveMode
    effectiveMaxCost validFrom validUntil addedBy active }
  hotlist { name priority matchMode siteIds cameraIds stale } } }`;
const CLOSE = `mutation Close($id: ID!, $disposition: Disposition!, $note: String, $checklist: ChecklistInput) {
  closeAlert(id: $id, disposition: $disposition, note: $note, checklist: $checklist) { ${ALERT_FIELDS} } }`;

export const DISPOSITIONS = [['CONFIRMED', 'Confirmed'], ['MISREAD', 'Misread'],
  ['ENTRY_OUTDATED', 'Entry outdated'], ['NO_ACTION', 'No action']];
const CHECKS = [['imageMatchesEntry', 'The image shows the listed vehicle'],
  ['regionMatches', 'The plate region matches the entry'],
  ['entryStillActive', 'The entry is still active with its agency']];

export function Priority({ value }) {
  const level = value >= 75 ? 'high' : value >= 40 ? 'medium' : 'low';
  return html`<span class=${`priority ${level}`}>${value}<span class="visually-hidden"> (${level})</span></span>`;
}

export function StatusText({ alert }) {
  if (alert.status === 'CLOSED') {
    const d = DISPOSITIONS.find(([v]) => v === alert.disposition);
    return html`<span>Closed${d ? `: ${d[1].toLowerCase()}` : ''}</span>`;
  }
  return alert.status === 'NEW' ? html`<strong>New</strong>` : html`<span>Acknowledged</span>`;
}

/** The entry's and the read's text, the differing characters marked, and the edits in words. */
export function Differences({ alert }) {
  const edits = alert.edits || [];
  if (!edits.length) return html`<p>The read is the entry's plate exactly.</p>`;
  const atEntry = new Set(edits.filter((e) => e.kind !== 'insertion').map((e) => e.position));
  const marked = (text, positions) => [...text].map((ch, i) => (positions.has(i)
    ? html`<mark>${ch}</mark>` : ch));
  const words = (e) => ({
    confusion: `position ${e.position + 1}: ${e.expected} read as ${e.read} (look-alike, cost ${e.cost})`,
    substitution: `position ${e.position + 1}: ${e.expected} read as ${e.read} (cost ${e.cost})`,
    insertion: `before position ${e.position + 1}: extra ${e.read} (cost ${e.cost})`,
    deletion: `position ${e.position + 1}: ${e.expected} missing (cost ${e.cost})`,
  }[e.kind] || JSON.stringify(e));
  return html`<div class="diff">
    <p>Entry <span class="plate">${marked(alert.entryPlate, atEntry)}</span>,
      read <span class="plate">${alert.plateRead}</span>, total cost ${alert.cost}</p>
    <ul aria-label="Differing characters">${edits.map((e) => html`<li>${words(e)}</li>`)}</ul>
  </div>`;
}

function Images({ event }) {
  const links = [['plate', event.plateImageUrl], ['vehicle', event.vehicleImageUrl],
    ['frame', event.frameImageUrl]].filter(([, url]) => url);
  if (!links.length) return html`<span class="muted">no image</span>`;
  return links.map(([name, url]) => html`<a href=${url} target="_blank" rel="noopener noreferrer">${name} image</a> `);
}

function Reads({ reads }) {
  return html`<table><caption>${reads.length} reads of this pass</caption>
    <thead><tr><th scope="col">Captured</th><th scope="col">Read</th><th scope="col">Camera</th>
      <th scope="col" class="num">Confidence</th><th scope="col">Images</th></tr></thead>
    <tbody>${reads.map((r) => html`<tr key=${r.eventId}><td><${Time} at=${r.capturedAt} /></td>
      <td>${r.event ? html`<span class="plate">${r.event.plateText}</span> ${r.event.plateRegion || ''}` : html`<span class="muted">removed by retention</span>`}</td>
      <td>${r.event ? r.event.cameraId : '—'}</td><td class="num">${percent(r.confidence)}</td>
      <td>${r.event ? html`<${Images} event=${r.event} />` : '—'}</td></tr>`)}</tbody></table>`;
}

function Entry({ entry, hotlist }) {
  const rows = [['List', `${hotlist.name} (priority ${hotlist.priority}${hotlist.stale ? ', STALE' : ''})`],
    ['Entry plate', html`<${PlateLink} plate=${entry.plate} /> ${entry.region || ''}`],
    ['Reason', entry.reason], ['Case', entry.caseNumber], ['Agency', entry.agency],
    ['Record', entry.recordNumber], ['Notes', entry.notes],
    ['Matching', `${entry.effectiveMode.toLowerCase()}${entry.effectiveMode === 'FUZZY' ? `, up to cost ${entry.effectiveMaxCost}` : ''}`],
    ['Valid', html`<${Time} at=${entry.validFrom} /> to ${entry.validUntil ? html`<${Time} at=${entry.validUntil} />` : 'no end'}${entry.active ? '' : ' (no longer active)'}`]];
  return html`<dl class="facts">${rows.filter(([, v]) => v).map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>`;
}

export function AlertDetail({ alert, onBack, onAcknowledge, onClose }) {
  const { data, error } = useQuery(DETAIL, { id: alert.id }, [alert.id, alert.status]);
  const heading = useRef(null);
  useEffect(() => heading.current && heading.current.focus(), []);
  const keys = (event) => {
    if (event.key === 'Escape') { event.preventDefault(); onBack(); }
  };
  const detail = data ? data.alert : null;
  return html`<section class="alert-detail" aria-labelledby="alert-title" onKeyDown=${keys}>
    <h2 id="alert-title" tabindex="-1" ref=${heading}>${`Alert #${alert.id}: `}<span class="plate">${alert.plateRead}</span>, <${Priority} value=${alert.priority} /></h2>
    <p><${StatusText} alert=${alert} />${alert.acknowledgedBy ? ` · acknowledged by ${alert.acknowledgedBy}` : ''}
      ${alert.closedBy ? ` · closed by ${alert.closedBy}${alert.dispositionNote ? `: “${alert.dispositionNote}”` : ''}` : ''}
      ${alert.historical ? ' · found in past reads' : ''}${alert.regionMismatch ? html` · <strong class="bad">region differs</strong>` : ''}</p>
    <p class="actions">
      <button type="button" onClick=${onAcknowledge} disabled=${alert.status !== 'NEW'}
        aria-keyshortcuts="a">Acknowledge (a)</button>
      <button type="button" onClick=${onClose} disabled=${alert.status === 'CLOSED'}
        aria-keyshortcuts="c">Close… (c)</button>
      <button type="button" class="secondary" onClick=${onBack}>Back to the list (Esc)</button>
    </p>
    <${Differences} alert=${alert} />
    <${ErrorBox} error=${error} />
    ${detail ? html`<${Entry} entry=${detail.entry} hotlist=${detail.hotlist} /><${Reads} reads=${detail.reads} />`
      : error ? null : html`<${Loading} what="the alert" />`}
  </section>`;
}

function YesNo({ name, label, value, onChange }) {
  const id = `check-${name}`;
  return html`<fieldset class="yesno"><legend>${label}</legend>
    ${[['yes', true, 'Yes'], ['no', false, 'No']].map(([suffix, v, text]) => html`<label for=${`${id}-${suffix}`}>
      <input type="radio" id=${`${id}-${suffix}`} name=${id} checked=${value === v}
        onChange=${() => onChange(v)} /> ${text}</label>`)}
  </fieldset>`;
}

/** The close form in a modal dialog; `onDone(alert or null)`. Escape cancels. */
export function CloseDialog({ alert, onDone }) {
  const dialog = useRef(null);
  const [form, setForm] = useState({ disposition: '', note: '',
    checks: { imageMatchesEntry: null, regionMatches: null, entryStillActive: null } });
  const [state, setState] = useState({ busy: false, error: null, problem: null });
  useEffect(() => {
    const el = dialog.current;
    el.showModal();
    const cancel = (e) => { e.preventDefault(); onDone(null); };
    el.addEventListener('cancel', cancel);
    return () => el.removeEventListener('cancel', cancel);
  }, []);
  const confirmed = form.disposition === 'CONFIRMED';
  const submit = async (event) => {
    event.preventDefault();
    if (!form.disposition) { setState({ busy: false, error: null, problem: 'Choose a disposition.' }); return; }
    if (confirmed && Object.values(form.checks).some((v) => v === null)) {
      setState({ busy: false, error: null, problem: 'A confirmed hit needs every checklist answer.' });
      return;
    }
    const answered = Object.values(form.checks).some((v) => v !== null);
    setState({ busy: true, error: null, problem: null });
    try {
      const data = await gql(CLOSE, { id: alert.id, disposition: form.disposition,
        note: form.note.trim() || null, checklist: answered ? form.checks : null });
      onDone(data.closeAlert);
    } catch (error) {
      setState({ busy: false, error, problem: null });
    }
  };
  const setCheck = (name) => (v) => setForm({ ...form, checks: { ...form.checks, [name]: v } });
  return html`<dialog ref=${dialog} aria-labelledby="close-title" class="close-dialog">
    <form onSubmit=${submit}>
      <h2 id="close-title">Close alert #${alert.id} (<span class="plate">${alert.plateRead}</span>)</h2>
      <fieldset><legend>Disposition</legend>
        ${DISPOSITIONS.map(([value, text], i) => html`<label for=${`disp-${value}`}>
          <input type="radio" id=${`disp-${value}`} name="disposition" value=${value} autofocus=${i === 0}
            checked=${form.disposition === value} onChange=${() => setForm({ ...form, disposition: value })} /> ${text}</label>`)}
      </fieldset>
      <fieldset aria-describedby="checklist-help"><legend>Verification checklist</legend>
        <p id="checklist-help" class="muted">${confirmed ? 'Required for a confirmed hit: answer all three.' : 'Optional unless confirmed.'}</p>
        ${CHECKS.map(([name, label]) => html`<${YesNo} name=${name} label=${label} value=${form.checks[name]} onChange=${setCheck(name)} />`)}
      </fieldset>
      <label for="close-note">Note</label>
      <textarea id="close-note" rows="2" maxlength="2000" value=${form.note}
        onInput=${(e) => setForm({ ...form, note: e.target.value })}></textarea>
      ${state.problem ? html`<p class="error" role="alert">${state.problem}</p>` : null}
      <${ErrorBox} error=${state.error} />
      <p class="actions"><button type="submit" disabled=${state.busy}>Close the alert</button>
        <button type="button" class="secondary" onClick=${() => onDone(null)}>Cancel</button></p>
    </form>
  </dialog>`;
}
