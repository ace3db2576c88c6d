// One plate: summary, reads by day, where it was seen, similar plates, its
// reads (keyset pages both ways), legal holds (admin keys), CSV download.
import { useEffect, useState } from 'preact/hooks';
import { gql } from '../api.js';
import { BarChart, ErrorBox, Loading, Pager, PlateLink, Time, html, number, useQuery } from '../ui.js';
import { ReadTable } from './live.js';
import { PlaceHold, ReleaseHold } from './holds.js';

const SUMMARY = `query Plate($text: String!) {
  plate(text: $text) {
    text firstSeen lastSeen readCount lastRegion lastCameraId
    cameras { cameraId siteId firstSeen lastSeen readCount }
    similar(first: 10) { plate score readCount lastSeen }
  } }`;
const READ_FIELDS = `id capturedAt cameraId siteId plateText plateNormalized plateConfidence plateRegion
  vehicleTypeText vehicleMake vehicleModel vehicleColor direction plateImageUrl vehicleImageUrl frameImageUrl`;
const READS = `query PlateReads($text: String!, $first: Int, $after: String, $last: Int, $before: String) {
  plate(text: $text) { reads(first: $first, after: $after, last: $last, before: $before) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { node { ${READ_FIELDS} } } } } }`;
const TIMELINE = `query PlateTimeline($text: String!, $after: String) {
  plate(text: $text) { reads(first: 500, after: $after) {
    pageInfo { hasNextPage endCursor } edges { node { capturedAt } } } } }`;
const HOLDS = `query Holds($plate: String!) {
  legalHolds(plate: $plate, includeReleased: true) {
    id caseNumber reason createdBy createdAt active heldFrom heldUntil releasedAt } }`;
const PAGE = 25;
const TIMELINE_MAX = 2000;
const EXPORT_MAX = 10000;
const CSV_COLUMNS = ['id', 'capturedAt', 'plateText', 'plateNormalized', 'plateConfidence', 'plateRegion',
  'cameraId', 'siteId', 'direction', 'vehicleTypeText', 'vehicleMake', 'vehicleModel', 'vehicleColor',
  'plateImageUrl', 'vehicleImageUrl', 'frameImageUrl'];

/** Every read of `text` (newest first) up to `max`, through the reads pages. */
async function allReads(query, text, max, pick) {
  const found = [];
  let after = null;
  for (;;) {
    const data = await gql(query, { text, after, first: 500 });
    const { edges, pageInfo } = data.plate.reads;
    found.push(...edges.map((e) => pick(e.node)));
    if (!pageInfo.hasNextPage || found.length >= max) return { reads: found, more: pageInfo.hasNextPage };
    after = pageInfo.endCursor;
  }
}

/** Reads per UTC day, from the first day seen to the last, empty days included. */
export function byDay(times) {
  const counts = new Map();
  for (const at of times) {
    const day = at.slice(0, 10);
    counts.set(day, (counts.get(day) || 0) + 1);
  }
  const days = [...counts.keys()].sort();
  if (!days.length) return { days: [], values: [] };
  const out = { days: [], values: [] };
  for (let d = new Date(`${days[0]}T00:00:00Z`); d <= new Date(`${days[days.length - 1]}T00:00:00Z`);
    d = new Date(d.getTime() + 86400000)) {
    const key = d.toISOString().slice(0, 10);
    out.days.push(`${key}T00:00:00Z`);
    out.values.push(counts.get(key) || 0);
  }
  return out;
}

function Timeline({ text }) {
  const [state, setState] = useState(null);
  useEffect(() => {
    allReads(TIMELINE, text, TIMELINE_MAX, (n) => n.capturedAt).then(
      ({ reads, more }) => setState({ ...byDay(reads), more }),
      (error) => setState({ error }),
    );
  }, [text]);
  if (!state) return html`<${Loading} what="the timeline" />`;
  if (state.error) return html`<${ErrorBox} error=${state.error} />`;
  return html`<${BarChart} times=${state.days} values=${state.values}
    label=${`Reads by day (UTC)${state.more ? `, newest ${TIMELINE_MAX} reads` : ''}`} />`;
}

function csvCell(value) {
  const text = value == null ? '' : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function ExportButton({ text }) {
  const [state, setState] = useState({ busy: false, error: null, note: null });
  const download = async () => {
    setState({ busy: true, error: null, note: null });
    try {
      const { reads, more } = await allReads(READS, text, EXPORT_MAX, (n) => n);
      const lines = [CSV_COLUMNS.join(','), ...reads.map((r) => CSV_COLUMNS.map((c) => csvCell(r[c])).join(','))];
      const url = URL.createObjectURL(new Blob([`${lines.join('\r\n')}\r\n`], { type: 'text/csv' }));
      const link = Object.assign(document.createElement('a'), { href: url, download: `plate-${text}.csv` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      setState({ busy: false, error: null,
        note: `${reads.length} reads exported${more ? ` (the newest ${EXPORT_MAX}; use alpr export for all)` : ''}.` });
    } catch (error) {
      setState({ busy: false, error, note: null });
    }
  };
  return html`<p><button type="button" onClick=${download} disabled=${state.busy}>
      ${state.busy ? 'Exporting…' : 'Download reads as CSV'}</button>
    ${state.note ? html` <span role="status">${state.note}</span>` : null}</p>
    <${ErrorBox} error=${state.error} />`;
}

function Reads({ text }) {
  const [page, setPage] = useState({ first: PAGE });
  const { data, error, loading } = useQuery(READS, { text, ...page }, [text, page]);
  const reads = data ? data.plate.reads : null;
  return html`<section aria-labelledby="reads-title">
    <h2 id="reads-title">Reads</h2>
    <${ErrorBox} error=${error} />
    ${loading && !reads ? html`<${Loading} what="reads" />` : null}
    ${reads ? html`<${ReadTable} reads=${reads.edges.map((e) => e.node)} caption="Reads, newest first" />
      <${Pager} label="Pages of reads" hasPrev=${reads.pageInfo.hasPreviousPage && !loading}
        hasNext=${reads.pageInfo.hasNextPage && !loading}
        onPrev=${() => setPage({ last: PAGE, before: reads.pageInfo.startCursor })}
        onNext=${() => setPage({ first: PAGE, after: reads.pageInfo.endCursor })} />` : null}
  </section>`;
}

function Holds({ text }) {
  const { data, error, reload } = useQuery(HOLDS, { plate: text }, [text]);
  let body;
  if (error) body = html`<${ErrorBox} error=${error} />`;
  else if (!data) body = html`<${Loading} what="legal holds" />`;
  else if (!data.legalHolds.length) body = html`<p>No legal hold on this plate.</p>`;
  else {
    body = html`<ul>${data.legalHolds.map((h) => html`<li key=${h.id}>
      <strong>${h.active ? 'Active' : 'Released'}</strong>
      ${` hold #${h.id}${h.caseNumber ? `, case ${h.caseNumber}` : ''}: ${h.reason} (by ${h.createdBy}, `}
      <${Time} at=${h.createdAt} />) <${ReleaseHold} hold=${h} onDone=${reload} /></li>`)}</ul>`;
  }
  return html`<section aria-labelledby="holds-title"><h2 id="holds-title">Legal holds</h2>${body}
    ${error ? null : html`<${PlaceHold} plate=${text} idPrefix="plate-hold" onDone=${reload} />`}</section>`;
}

export function PlatePage({ arg }) {
  const text = arg || '';
  const { data, error, loading } = useQuery(SUMMARY, { text }, [text]);
  if (!text) return html`<h1>Plate</h1><p>Find a plate with <a href="#/search">Search</a>.</p>`;
  if (error) return html`<h1>Plate ${text}</h1><${ErrorBox} error=${error} />`;
  if (loading || !data) return html`<h1>Plate ${text}</h1><${Loading} what="the plate" />`;
  const plate = data.plate;
  const sites = [...new Set(plate.cameras.map((c) => c.siteId).filter(Boolean))];
  return html`<h1>Plate <span class="plate">${plate.text}</span></h1>
    <dl class="summary">
      <div><dt>First seen</dt><dd><${Time} at=${plate.firstSeen} /></dd></div>
      <div><dt>Last seen</dt><dd><${Time} at=${plate.lastSeen} /></dd></div>
      <div><dt>Reads</dt><dd>${number(plate.readCount)}</dd></div>
      <div><dt>Region</dt><dd>${plate.lastRegion}</dd></div>
      <div><dt>Sites</dt><dd>${sites.join(', ') || '—'}</dd></div>
    </dl>
    <${Timeline} text=${plate.text} />
    <${ExportButton} text=${plate.text} />
    <div class="columns">
      <section aria-labelledby="seen-title"><h2 id="seen-title">Cameras</h2>
        <table><caption>Where it was seen, latest first</caption>
          <thead><tr><th scope="col">Camera</th><th scope="col">Site</th><th scope="col">First</th>
            <th scope="col">Last</th><th scope="col" class="num">Reads</th></tr></thead>
          <tbody>${plate.cameras.map((c) => html`<tr key=${c.cameraId}><td>${c.cameraId}</td><td>${c.siteId || '—'}</td>
            <td><${Time} at=${c.firstSeen} /></td><td><${Time} at=${c.lastSeen} /></td>
            <td class="num">${number(c.readCount)}</td></tr>`)}</tbody></table>
      </section>
      <section aria-labelledby="similar-title"><h2 id="similar-title">Similar plates</h2>
        ${plate.similar.length ? html`<table><caption>Likely misreads of the same vehicle, best first</caption>
          <thead><tr><th scope="col">Plate</th><th scope="col" class="num">Cost</th><th scope="col" class="num">Reads</th>
            <th scope="col">Last seen</th></tr></thead>
          <tbody>${plate.similar.map((m) => html`<tr key=${m.plate}><td><${PlateLink} plate=${m.plate} /></td>
            <td class="num">${m.score}</td><td class="num">${number(m.readCount)}</td><td><${Time} at=${m.lastSeen} /></td></tr>`)}
          </tbody></table>` : html`<p>No similar plate.</p>`}
      </section>
    </div>
    <${Holds} text=${plate.text} />
    <${Reads} text=${plate.text} />`;
}
