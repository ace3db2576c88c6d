// The alerts inbox: hotlist hits, newest first, new ones arriving live (the
// alertRaised subscription) with a visual cue and an optional beep; triage
// from the keyboard: j/k or ↓/↑ move, Enter opens, a acknowledges, c closes
// with a disposition and the verification checklist (alert-detail.js).
import { useEffect, useRef, useState } from 'preact/hooks';
import { gql, onReconnect, subscribe } from '../api.js';
import { ErrorBox, Loading, Time, html, useQuery } from '../ui.js';
import { AlertDetail, CloseDialog, ALERT_FIELDS, Priority, StatusText } from './alert-detail.js';
import { beep, soundWanted } from './sound.js';

const LIST = `query Alerts($filter: AlertFilter, $first: Int!) {
  alerts(filter: $filter, first: $first) { edges { node { ${ALERT_FIELDS} } } } }`;
const RAISED = `subscription Raised($filter: LiveAlertFilter) { alertRaised(filter: $filter) { ${ALERT_FIELDS} } }`;
const PLACES = '{ hotlists { name priority } sites { id } }';
const ACK = `mutation Ack($id: ID!) { acknowledgeAlert(id: $id) { ${ALERT_FIELDS} } }`;
const SHOWN = 100;
const STATUSES = [['OPEN', 'New and acknowledged'], ['NEW', 'New'], ['ACKNOWLEDGED', 'Acknowledged'],
  ['CLOSED', 'Closed'], ['ALL', 'All']];

/** The API filter of the form's choices (OPEN: see firstPage). */
function apiFilter(form) {
  const status = ['NEW', 'ACKNOWLEDGED', 'CLOSED'].includes(form.status) ? form.status : null;
  return { status, hotlist: form.hotlist || null, site: form.site || null };
}

/** The newest alerts the form asks for: OPEN is NEW and ACKNOWLEDGED, merged
 * (the API filters one status at a time). */
async function firstPage(filter, form) {
  const statuses = form.status === 'OPEN' ? ['NEW', 'ACKNOWLEDGED'] : [filter.status];
  const pages = await Promise.all(statuses.map((status) =>
    gql(LIST, { filter: { ...filter, status }, first: SHOWN })));
  return pages.flatMap((data) => data.alerts.edges.map((e) => e.node))
    .sort((a, b) => Number(b.id) - Number(a.id)).slice(0, SHOWN);
}

const shownUnder = (form) => (a) => form.status === 'ALL' || (form.status === 'OPEN'
  ? a.status !== 'CLOSED' : a.status === form.status);

function Filters({ form, setForm, sound, setSound }) {
  const { data } = useQuery(PLACES, {}, []);
  const lists = data ? data.hotlists : [];
  const sites = data ? data.sites : [];
  const set = (name) => (e) => setForm({ ...form, [name]: e.target.value });
  return html`<form class="filters" onSubmit=${(e) => e.preventDefault()}>
    <label for="alerts-status">Status</label>
    <select id="alerts-status" value=${form.status} onChange=${set('status')}>
      ${STATUSES.map(([v, t]) => html`<option value=${v}>${t}</option>`)}</select>
    <label for="alerts-list">List</label>
    <select id="alerts-list" value=${form.hotlist} onChange=${set('hotlist')}>
      <option value="">All lists</option>
      ${lists.map((l) => html`<option value=${l.name}>${l.name} (priority ${l.priority})</option>`)}</select>
    <label for="alerts-site">Site</label>
    <select id="alerts-site" value=${form.site} onChange=${set('site')}>
      <option value="">All sites</option>
      ${sites.map((s) => html`<option value=${s.id}>${s.id}</option>`)}</select>
    <input id="alerts-sound" type="checkbox" checked=${sound}
      onChange=${(e) => { setSound(e.target.checked); if (e.target.checked) beep(); }} />
    <label for="alerts-sound">Sound on new alerts</label>
  </form>`;
}

function Row({ alert, selected, fresh, onSelect }) {
  const cls = [selected ? 'selected' : '', fresh ? 'fresh' : '', `p${Math.floor(alert.priority / 25)}`].join(' ');
  return html`<tr class=${cls} tabindex=${selected ? 0 : -1} aria-selected=${selected}
      data-id=${alert.id} onClick=${() => onSelect(alert.id)}>
    <td><${Priority} value=${alert.priority} /></td>
    <td><span class="plate">${alert.plateRead}</span>${alert.cost > 0
      ? html` <span class="muted">≈ ${alert.entryPlate} (cost ${alert.cost})</span>` : null}</td>
    <td>${alert.hotlistName}</td><td>${alert.reason}</td>
    <td>${alert.cameraId}${alert.siteId ? html` <span class="muted">${alert.siteId}</span>` : null}</td>
    <td><${Time} at=${alert.lastSeen} /></td>
    <td><${StatusText} alert=${alert} /></td>
  </tr>`;
}

/** `state` with `alert` on top, marked fresh and announced to screen readers. */
function withArrival(state, alert) {
  return {
    ...state,
    alerts: [alert, ...(state.alerts || []).filter((a) => a.id !== alert.id)].slice(0, SHOWN),
    fresh: new Set([...state.fresh, alert.id]),
    announce: `New alert, priority ${alert.priority}: ${alert.plateRead} on ${alert.hotlistName}, ${alert.reason}, at ${alert.cameraId}`,
  };
}

const newest = (alerts) => Math.max(0, ...alerts.map((a) => Number(a.id)));

/** The inbox's alerts: the first page, then live arrivals on top; after a
 * dropped connection, the ones raised meanwhile. */
function useInbox(form, sound) {
  const [state, setState] = useState({ alerts: null, fresh: new Set(), error: null, announce: '' });
  const soundRef = useRef(sound);
  soundRef.current = sound;
  useEffect(() => {
    let open = true;
    const filter = apiFilter(form);
    const early = [];
    let loaded = false;
    setState({ alerts: null, fresh: new Set(), error: null, announce: '' });
    const arrived = (alert) => {
      if (soundRef.current) beep();
      setState((s) => withArrival(s, alert));
    };
    // After a dropped connection: the alerts raised meanwhile, from the list.
    const caughtUp = (alerts) => setState((s) => {
      if (!s.alerts) return s;
      const missed = alerts.filter((a) => Number(a.id) > newest(s.alerts)).reverse();
      if (missed.length && soundRef.current) beep();
      return missed.reduce(withArrival, s);
    });
    const live = { hotlist: filter.hotlist, site: filter.site };
    const unsubscribe = subscribe(RAISED, { filter: live }, (data) => {
      const alert = data.alertRaised;
      if (!loaded) early.unshift(alert); else arrived(alert);
    }, (error) => open && setState((s) => ({ ...s, error })));
    firstPage(filter, form).then((page) => {
      if (!open) return;
      const seen = new Set(early.map((a) => a.id));
      const alerts = [...early, ...page.filter((a) => !seen.has(a.id))];
      loaded = true;
      setState((s) => ({ ...s, alerts, fresh: new Set(early.map((a) => a.id)) }));
    }, (error) => { loaded = true; open && setState((s) => ({ ...s, error, alerts: [] })); });
    const stopCatchingUp = onReconnect(() => firstPage(filter, form).then(
      (page) => open && caughtUp(page),
      (error) => open && setState((s) => ({ ...s, error }))));
    return () => { open = false; unsubscribe(); stopCatchingUp(); };
  }, [form.status, form.hotlist, form.site]);
  const replace = (alert) => setState((s) => ({
    ...s, alerts: s.alerts.map((a) => (a.id === alert.id ? alert : a)) }));
  return [state, replace];
}

const KEYS_HELP = 'Keys: j or ↓ next, k or ↑ previous, Enter open, a acknowledge, c close, Escape back to the list.';

export function Alerts() {
  const [form, setForm] = useState({ status: 'OPEN', hotlist: '', site: '' });
  const [sound, setSoundState] = useState(soundWanted());
  const setSound = (on) => { soundWanted(on); setSoundState(on); };
  const [{ alerts, fresh, error, announce }, replace] = useInbox(form, sound);
  const [selectedId, setSelectedId] = useState(null);
  const [openId, setOpenId] = useState(null);
  const [closing, setClosing] = useState(null);
  const [actionError, setActionError] = useState(null);
  const tableRef = useRef(null);
  const shown = alerts ? alerts.filter(shownUnder(form)) : [];
  const selected = shown.find((a) => a.id === selectedId) || shown[0] || null;

  // The selected row, from the page (a ref would lag behind a removed row).
  const focusSelected = () => {
    const row = tableRef.current && tableRef.current.querySelector('tbody tr[aria-selected=true]');
    if (row) row.focus();
  };
  useEffect(() => {
    // Focus follows the selection while the keyboard is in the list.
    if (tableRef.current && tableRef.current.contains(document.activeElement)) focusSelected();
  }, [selected && selected.id]);

  const move = (step) => {
    if (!shown.length) return;
    const at = Math.max(0, shown.indexOf(selected));
    const next = shown[Math.min(shown.length - 1, Math.max(0, at + step))];
    setSelectedId(next.id);
  };
  const acknowledge = async (alert) => {
    setActionError(null);
    try {
      replace((await gql(ACK, { id: alert.id })).acknowledgeAlert);
    } catch (e) {
      setActionError(e);
    }
  };
  const onKey = (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || closing) return;
    const k = event.key;
    const act = { j: () => move(1), ArrowDown: () => move(1), k: () => move(-1), ArrowUp: () => move(-1),
      Enter: () => selected && setOpenId(selected.id),
      a: () => selected && selected.status === 'NEW' && acknowledge(selected),
      c: () => selected && selected.status !== 'CLOSED' && setClosing(selected) }[k];
    if (act) { event.preventDefault(); act(); }
  };
  const opened = alerts && openId ? alerts.find((a) => a.id === openId) : null;
  const backToList = () => {
    setOpenId(null);
    setTimeout(focusSelected, 0);
  };

  return html`<h1>Alerts</h1>
    <${Filters} form=${form} setForm=${setForm} sound=${sound} setSound=${setSound} />
    <p class="muted" id="alerts-keys">${KEYS_HELP}</p>
    <p class="visually-hidden" role="status" aria-live="polite" id="alerts-announce">${announce}</p>
    <${ErrorBox} error=${error} />
    <${ErrorBox} error=${actionError} />
    ${alerts === null ? html`<${Loading} what="alerts" />` : html`<div class="inbox">
      <div class="inbox-list" ref=${tableRef} onKeyDown=${onKey}>
        <table role="grid" aria-readonly="true" aria-describedby="alerts-keys">
          <caption>${shown.length} alerts, newest first${fresh.size ? `; ${fresh.size} arrived live` : ''}</caption>
          <thead><tr><th scope="col">Priority</th><th scope="col">Plate read</th><th scope="col">List</th>
            <th scope="col">Reason</th><th scope="col">Camera</th><th scope="col">Last seen</th><th scope="col">Status</th></tr></thead>
          <tbody>${shown.map((a) => html`<${Row} key=${a.id} alert=${a}
            selected=${selected && a.id === selected.id} fresh=${fresh.has(a.id)}
            onSelect=${(id) => { setSelectedId(id); setOpenId(id); }} />`)}</tbody>
        </table>
        ${shown.length ? null : html`<p>No alert here.</p>`}
      </div>
      ${opened ? html`<${AlertDetail} key=${opened.id} alert=${opened} onBack=${backToList}
        onAcknowledge=${() => acknowledge(opened)} onClose=${() => setClosing(opened)} />` : null}
    </div>`}
    ${closing ? html`<${CloseDialog} alert=${closing}
      onDone=${(done) => { if (done) replace(done); setClosing(null); setTimeout(focusSelected, 0); }} />` : null}`;
}
