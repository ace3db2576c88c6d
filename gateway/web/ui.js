// Shared pieces of the screens: markup helper, data hook, tables, charts.
import { h } from 'preact';
import { useEffect, useRef, useState, useCallback } from 'preact/hooks';
import htm from 'htm';
import uPlot from 'uplot';
import { explain, gql } from './api.js';

export const html = htm.bind(h);

/** Run `query` with `variables` whenever `deps` change: {data, error, loading, reload}. */
export function useQuery(query, variables, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    gql(query, variables).then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error) => live && setState({ data: null, error, loading: false }),
    );
    return () => { live = false; };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

export function ErrorBox({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${explain(error)}</p>`;
}

export function Loading({ what }) {
  return html`<p class="muted" role="status">Loading ${what}…</p>`;
}

const pad = (n) => String(n).padStart(2, '0');

/** A time as local "YYYY-MM-DD HH:MM:SS" (the full ISO value in a title). */
export function Time({ at }) {
  if (!at) return html`<span class="muted">—</span>`;
  const d = new Date(at);
  const text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return html`<time datetime=${at}>${text}</time>`;
}

/** "3 min ago", "2 h ago" from seconds. */
export function ago(seconds) {
  if (seconds == null) return '—';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

export const number = (n) => (n == null ? '—' : Number(n).toLocaleString('en'));
export const percent = (x) => (x == null ? '—' : `${Math.round(x * 100)}%`);

export function PlateLink({ plate }) {
  return html`<a class="plate" href=${`#/plate/${encodeURIComponent(plate)}`}>${plate}</a>`;
}

/** Previous / next page buttons. */
export function Pager({ label, hasPrev, hasNext, onPrev, onNext, prev = '← Newer', next = 'Older →' }) {
  return html`<nav class="pager" aria-label=${label}>
    <button type="button" onClick=${onPrev} disabled=${!hasPrev}>${prev}</button>
    <button type="button" onClick=${onNext} disabled=${!hasNext}>${next}</button>
  </nav>`;
}

/** A small inline SVG line of `values` (e.g. reads per hour), described for screen readers. */
export function Sparkline({ values, label, width = 120, height = 24 }) {
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`);
  return html`<svg class="spark" width=${width} height=${height} role="img" aria-label=${label}>
    <polyline points=${points.join(' ')} fill="none" stroke="currentColor" stroke-width="1.5" />
  </svg>`;
}

/** A uPlot bar chart of `times` (Date or ISO strings) against `values`. */
export function BarChart({ times, values, label, height = 180 }) {
  const box = useRef(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const xs = times.map((t) => new Date(t).getTime() / 1000);
    const width = Math.max(300, el.clientWidth || 600);
    const plot = new uPlot({
      width,
      height,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [{}, { size: 60 }],
      series: [{}, { label, stroke: '#1f5f99', fill: 'rgba(31,95,153,0.25)',
        paths: uPlot.paths.bars({ size: [0.8, 60] }), points: { show: false } }],
    }, [xs, values], el);
    return () => plot.destroy();
  }, [times, values]);
  const total = values.reduce((a, b) => a + b, 0);
  return html`<figure class="chart">
    <div ref=${box} role="img" aria-label=${`${label}: ${total.toLocaleString('en')} in ${values.length} bars`}></div>
    <figcaption>${label}</figcaption>
  </figure>`;
}

/** `<input type=datetime-local>` value ↔ ISO. */
export function localInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
export const fromLocalInput = (value) => (value ? new Date(value).toISOString() : null);

/** Site and camera pickers, from the API; `onChange({siteId, cameraId})`. */
export function PlacePicker({ siteId, cameraId, onChange, idPrefix }) {
  const { data } = useQuery('{ sites { id } cameras { id siteId } }', {}, []);
  const sites = data ? data.sites : [];
  const cameras = data ? data.cameras.filter((c) => !siteId || c.siteId === siteId) : [];
  return html`
    <label for=${`${idPrefix}-site`}>Site</label>
    <select id=${`${idPrefix}-site`} value=${siteId || ''}
      onChange=${(e) => onChange({ siteId: e.target.value || null, cameraId: null })}>
      <option value="">All sites</option>
      ${sites.map((s) => html`<option value=${s.id}>${s.id}</option>`)}
    </select>
    <label for=${`${idPrefix}-camera`}>Camera</label>
    <select id=${`${idPrefix}-camera`} value=${cameraId || ''}
      onChange=${(e) => onChange({ siteId, cameraId: e.target.value || null })}>
      <option value="">All cameras</option>
      ${cameras.map((c) => html`<option value=${c.id}>${c.id}</option>`)}
    </select>`;
}
