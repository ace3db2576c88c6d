// Live reads as they are stored (the plateDetected subscription), newest
// first. Paused, arriving reads are held and shown on resume: none is lost.
import { useEffect, useRef, useState } from 'preact/hooks';
import { gql, onReconnect, subscribe } from '../api.js';
import { ErrorBox, PlacePicker, PlateLink, Time, html, percent } from '../ui.js';

const FIELDS = `id capturedAt cameraId siteId plateText plateNormalized plateConfidence
  vehicleTypeText vehicleMake vehicleModel vehicleColor plateImageUrl vehicleImageUrl frameImageUrl`;
const LIVE = `subscription Live($filter: LiveFilter) { plateDetected(filter: $filter) { ${FIELDS} } }`;
const RECENT = `query Recent($filter: EventFilter) {
  events(filter: $filter, first: 20) { edges { node { ${FIELDS} } } } }`;
const SHOWN = 200;
const MINUTE_MS = 60000;

function Images({ read }) {
  const links = [['plate', read.plateImageUrl], ['vehicle', read.vehicleImageUrl],
    ['frame', read.frameImageUrl]].filter(([, url]) => url);
  if (!links.length) return html`<span class="muted">—</span>`;
  return links.map(([name, url]) => html`<a href=${url} target="_blank" rel="noopener noreferrer">${name}</a> `);
}

function Vehicle({ read }) {
  const text = [read.vehicleColor, read.vehicleMake, read.vehicleModel, read.vehicleTypeText]
    .filter(Boolean).join(' ');
  return text || html`<span class="muted">—</span>`;
}

function ReadRows({ reads }) {
  return reads.map((r) => html`<tr key=${r.id}>
    <td><${Time} at=${r.capturedAt} /></td>
    <td><${PlateLink} plate=${r.plateNormalized} />${r.plateText !== r.plateNormalized ? html` <span class="muted">(${r.plateText})</span>` : null}</td>
    <td>${r.cameraId}</td><td>${r.siteId || '—'}</td>
    <td class="num">${percent(r.plateConfidence)}</td>
    <td><${Vehicle} read=${r} /></td><td><${Images} read=${r} /></td>
  </tr>`);
}

export function ReadTable({ reads, caption }) {
  return html`<table>
    <caption>${caption}</caption>
    <thead><tr><th scope="col">Captured</th><th scope="col">Plate</th><th scope="col">Camera</th>
      <th scope="col">Site</th><th scope="col" class="num">Confidence</th><th scope="col">Vehicle</th>
      <th scope="col">Images</th></tr></thead>
    <tbody><${ReadRows} reads=${reads} /></tbody>
  </table>`;
}

export function Live() {
  const [place, setPlace] = useState({ siteId: null, cameraId: null });
  const [reads, setReads] = useState([]);
  const [held, setHeld] = useState([]);
  const [paused, setPaused] = useState(false);
  const [error, setError] = useState(null);
  const [perMinute, setPerMinute] = useState(0);
  const arrivals = useRef([]);
  const pausedRef = useRef(false);
  pausedRef.current = paused;

  useEffect(() => {
    let open = true;
    const filter = { siteId: place.siteId, cameraId: place.cameraId };
    setReads([]);
    setHeld([]);
    setError(null);
    arrivals.current = [];
    // Arrivals before the recent page answers are kept: they are newer.
    const early = [];
    let loaded = false;
    const unsubscribe = subscribe(LIVE, { filter }, (data) => {
      const read = data.plateDetected;
      arrivals.current.push(Date.now());
      if (!loaded) early.unshift(read);
      else if (pausedRef.current) setHeld((h) => [read, ...h]);
      else setReads((rs) => [read, ...rs].slice(0, SHOWN));
    }, (e) => open && setError(e));
    gql(RECENT, { filter }).then((data) => {
      if (!open) return;
      const seen = new Set(early.map((r) => r.id));
      const recent = data.events.edges.map((e) => e.node).filter((r) => !seen.has(r.id));
      loaded = true;
      setReads([...early, ...recent].slice(0, SHOWN));
    }, (e) => { loaded = true; open && setError(e); });
    // After a dropped connection, the reads stored meanwhile (up to a page).
    const stopCatchingUp = onReconnect(() => gql(RECENT, { filter }).then((data) => {
      if (!open) return;
      const recent = data.events.edges.map((e) => e.node);
      const add = (shown) => {
        const seen = new Set(shown.map((r) => r.id));
        return recent.filter((r) => !seen.has(r.id));
      };
      if (pausedRef.current) setHeld((h) => [...add(h), ...h]);
      else setReads((rs) => [...add(rs), ...rs].slice(0, SHOWN));
    }, (e) => open && setError(e)));
    return () => { open = false; unsubscribe(); stopCatchingUp(); };
  }, [place.siteId, place.cameraId]);

  useEffect(() => {
    const tick = () => {
      const since = Date.now() - MINUTE_MS;
      arrivals.current = arrivals.current.filter((t) => t > since);
      setPerMinute(arrivals.current.length);
    };
    tick();
    const timer = setInterval(tick, 1000);
    return () => clearInterval(timer);
  }, []);

  const toggle = () => {
    if (paused) {
      setReads((rs) => [...held, ...rs].slice(0, SHOWN));
      setHeld([]);
    }
    setPaused(!paused);
  };

  return html`<h1>Live reads</h1>
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      <${PlacePicker} idPrefix="live" siteId=${place.siteId} cameraId=${place.cameraId} onChange=${setPlace} />
      <button type="button" aria-pressed=${paused} onClick=${toggle}>${paused ? 'Resume' : 'Pause'}</button>
    </form>
    <p class="figures">
      <span><strong id="live-rate">${perMinute}</strong> reads in the last minute</span>
      ${paused ? html`<span role="status"><strong>${held.length}</strong> new reads held while paused</span>` : null}
    </p>
    <${ErrorBox} error=${error} />
    <${ReadTable} reads=${reads} caption=${`Newest ${reads.length} reads${paused ? ' (paused)' : ''}`} />`;
}
