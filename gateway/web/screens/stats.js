// Statistics over a window (totals, reads per hour, unique plates, sites)
// and the health of ingest, all from the writer-kept rollups.
import { useEffect, useState } from 'preact/hooks';
import { gql } from '../api.js';
import { BarChart, ErrorBox, Loading, Time, ago, html, number, percent, useQuery } from '../ui.js';

const WINDOWS = [['1h', 'Last hour', 1], ['24h', 'Last 24 hours', 24], ['7d', 'Last 7 days', 168],
  ['30d', 'Last 30 days', 720]];
const hoursOf = (id) => WINDOWS.find((w) => w[0] === id)[2];
const STATS = `query Stats($since: DateTime, $hours: Int!) {
  stats(since: $since, hours: $hours) {
    since until totalReads uniquePlates newPlates activeCameras avgConfidence avgLatencyMs
    readsPerHour { hour reads } } }`;
const SITE = `query SiteStats($since: DateTime, $siteId: String) {
  stats(since: $since, siteId: $siteId, hours: 1) { totalReads activeCameras } }`;
const SITES = '{ sites { id cameraCount readCount lastSeen } }';
const HEALTH = `{ ingestHealth { checkedAt lastBatchId lastBatchAt lastBatchReads lagSeconds storedLastHour
  ingestors { ingestor sources reporting startedAt updatedAt stoppedAt stored deadLettered lastDeadLetterAt }
  partitions { topic partition lag measuredAt ingestor } } }`;
const MAX_SITES = 50;

function Figure({ label, value }) {
  return html`<div><dt>${label}</dt><dd>${value}</dd></div>`;
}

function Sites({ since }) {
  const [state, setState] = useState(null);
  useEffect(() => {
    let live = true;
    gql(SITES).then(async ({ sites }) => {
      const shown = sites.slice(0, MAX_SITES);
      const figures = await Promise.all(shown.map((s) => gql(SITE, { since, siteId: s.id })));
      if (live) setState({ rows: shown.map((s, i) => ({ ...s, ...figures[i].stats })), total: sites.length });
    }).catch((error) => live && setState({ error }));
    return () => { live = false; };
  }, [since]);
  if (!state) return html`<${Loading} what="sites" />`;
  if (state.error) return html`<${ErrorBox} error=${state.error} />`;
  return html`<table><caption>Per site, in the window${state.total > MAX_SITES ? ` (first ${MAX_SITES} of ${state.total})` : ''}</caption>
    <thead><tr><th scope="col">Site</th><th scope="col" class="num">Reads</th><th scope="col" class="num">Active cameras</th>
      <th scope="col" class="num">Cameras</th><th scope="col" class="num">Reads ever</th><th scope="col">Last read</th></tr></thead>
    <tbody>${state.rows.map((s) => html`<tr key=${s.id}><th scope="row">${s.id}</th>
      <td class="num">${number(s.totalReads)}</td><td class="num">${number(s.activeCameras)}</td>
      <td class="num">${number(s.cameraCount)}</td><td class="num">${number(s.readCount)}</td><td><${Time} at=${s.lastSeen} /></td></tr>`)}
    </tbody></table>`;
}

function IngestHealth() {
  const { data, error, reload } = useQuery(HEALTH, {}, []);
  useEffect(() => {
    const timer = setInterval(reload, 15000);
    return () => clearInterval(timer);
  }, []);
  if (error) return html`<${ErrorBox} error=${error} />`;
  if (!data) return html`<${Loading} what="ingest health" />`;
  const h = data.ingestHealth;
  const since = h.lastBatchAt ? (new Date(h.checkedAt) - new Date(h.lastBatchAt)) / 1000 : null;
  return html`<dl class="summary">
    <${Figure} label="Last stored batch" value=${h.lastBatchAt ? html`#${h.lastBatchId}, ${number(h.lastBatchReads)} reads, ${ago(since)} ago` : 'none yet'} />
    <${Figure} label="Lag (capture → stored)" value=${h.lagSeconds == null ? '—' : ago(h.lagSeconds)} />
    <${Figure} label="Stored in the last hour" value=${number(h.storedLastHour)} />
  </dl>
  <${Ingestors} health=${h} />
  <${Partitions} health=${h} />`;
}

function Ingestors({ health }) {
  if (!health.ingestors.length) return html`<p class="note">No ingestor has reported in the last day.</p>`;
  const dead = health.ingestors.filter((i) => i.reporting).reduce((n, i) => n + i.deadLettered, 0);
  return html`<table><caption>Ingestors (totals since each started; ${number(dead)} dead letters from those reporting)</caption>
    <thead><tr><th scope="col">Ingestor</th><th scope="col">Sources</th><th scope="col">State</th>
      <th scope="col" class="num">Stored</th><th scope="col" class="num">Dead letters</th><th scope="col">Last dead letter</th>
      <th scope="col">Reported</th></tr></thead>
    <tbody>${health.ingestors.map((i) => html`<tr key=${i.ingestor} class=${i.reporting ? '' : 'silent'}>
      <th scope="row">${i.ingestor}</th><td>${i.sources.join(', ')}</td>
      <td>${i.reporting ? html`<span class="good">Reporting</span>` : i.stoppedAt ? 'Stopped' : html`<strong class="bad">Silent</strong>`}</td>
      <td class="num">${number(i.stored)}</td><td class=${`num ${i.deadLettered ? 'bad' : ''}`}>${number(i.deadLettered)}</td>
      <td><${Time} at=${i.lastDeadLetterAt} /></td><td><${Time} at=${i.updatedAt} /></td></tr>`)}</tbody></table>`;
}

function Partitions({ health }) {
  if (!health.partitions.length) return html`<p class="muted">No Kafka partition measured (HTTP ingest only, or no batch yet).</p>`;
  const total = health.partitions.reduce((n, p) => n + p.lag, 0);
  return html`<table><caption>Kafka consumer lag per partition: ${number(total)} messages behind in all</caption>
    <thead><tr><th scope="col">Topic</th><th scope="col" class="num">Partition</th><th scope="col" class="num">Lag (messages)</th>
      <th scope="col">Measured</th><th scope="col">By</th></tr></thead>
    <tbody>${health.partitions.map((p) => html`<tr key=${`${p.topic}/${p.partition}`}>
      <td>${p.topic}</td><td class="num">${p.partition}</td><td class=${`num ${p.lag > 1000 ? 'bad' : ''}`}>${number(p.lag)}</td>
      <td><${Time} at=${p.measuredAt} /></td><td>${p.ingestor}</td></tr>`)}</tbody></table>`;
}

export function Statistics() {
  // The window's start is fixed when it is picked, so re-renders ask the same.
  const pick = (id) => ({ id, since: new Date(Date.now() - hoursOf(id) * 3600000).toISOString() });
  const [picked, setPicked] = useState(() => pick('24h'));
  const windowId = picked.id;
  const from = picked.since;
  const [, label, hours] = WINDOWS.find((w) => w[0] === windowId);
  const setWindowId = (id) => setPicked(pick(id));
  const { data, error, loading } = useQuery(STATS, { since: from, hours }, [from]);
  const s = data ? data.stats : null;
  return html`<h1>Statistics</h1>
    <fieldset class="windows"><legend>Window</legend>
      ${WINDOWS.map(([id, text]) => html`<label><input type="radio" name="window" value=${id}
        checked=${id === windowId} onChange=${() => setWindowId(id)} /> ${text}</label>`)}
    </fieldset>
    <${ErrorBox} error=${error} />
    ${loading && !s ? html`<${Loading} what="statistics" />` : null}
    ${s ? html`<section aria-labelledby="totals-title"><h2 id="totals-title">${label}</h2>
      <dl class="summary">
        <${Figure} label="Reads" value=${number(s.totalReads)} />
        <${Figure} label="Unique plates" value=${number(s.uniquePlates)} />
        <${Figure} label="New plates" value=${number(s.newPlates)} />
        <${Figure} label="Active cameras" value=${number(s.activeCameras)} />
        <${Figure} label="Mean confidence" value=${percent(s.avgConfidence)} />
        <${Figure} label="Mean latency" value=${s.avgLatencyMs == null ? '—' : `${Math.round(s.avgLatencyMs)} ms`} />
      </dl>
      <${BarChart} times=${s.readsPerHour.map((h) => h.hour)} values=${s.readsPerHour.map((h) => h.reads)} label="Reads per hour" />
    </section>` : null}
    <section aria-labelledby="sites-title"><h2 id="sites-title">Sites</h2><${Sites} since=${from} /></section>
    <section aria-labelledby="ingest-title"><h2 id="ingest-title">Ingest health</h2><${IngestHealth} /></section>`;
}
