// Every camera: site, last read, reads per hour (24 h), and the silent flag
// the API works out from each camera's own rollups. Silent cameras first.
import { useState } from 'preact/hooks';
import { ErrorBox, Loading, Sparkline, Time, ago, html, number, useQuery } from '../ui.js';

const CAMERAS = `query Cameras { cameras {
  id siteId lastSeen readCount silent usualGapSeconds readsPerHour(hours: 24) { reads } } }`;

const rank = (c) => (c.silent === true ? 0 : c.silent === null ? 1 : 2);

function State({ camera }) {
  if (camera.silent === true) return html`<strong class="bad">Silent</strong>`;
  if (camera.silent === false) return html`<span class="good">Reading</span>`;
  return html`<span class="muted" title="Too little history to tell">Unknown</span>`;
}

export function Cameras() {
  const { data, error, loading, reload } = useQuery(CAMERAS, {}, []);
  const [onlySilent, setOnlySilent] = useState(false);
  if (error) return html`<h1>Cameras</h1><${ErrorBox} error=${error} />`;
  if (loading && !data) return html`<h1>Cameras</h1><${Loading} what="cameras" />`;
  const now = Date.now();
  const cameras = [...data.cameras].sort((a, b) => rank(a) - rank(b) || a.id.localeCompare(b.id))
    .filter((c) => !onlySilent || c.silent);
  const silent = data.cameras.filter((c) => c.silent).length;
  return html`<h1>Cameras</h1>
    <p class="figures"><span><strong>${data.cameras.length}</strong> cameras</span>
      <span><strong class=${silent ? 'bad' : ''}>${silent}</strong> silent</span></p>
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      <input id="only-silent" type="checkbox" checked=${onlySilent} onChange=${(e) => setOnlySilent(e.target.checked)} />
      <label for="only-silent">Silent cameras only</label>
      <button type="button" onClick=${reload}>Refresh</button>
    </form>
    <table>
      <caption>Silent: nothing for much longer than the camera's own usual gap between reads</caption>
      <thead><tr><th scope="col">Camera</th><th scope="col">Site</th><th scope="col">State</th>
        <th scope="col">Last read</th><th scope="col">Quiet for</th><th scope="col">Usual gap</th>
        <th scope="col">Reads per hour, 24 h</th><th scope="col" class="num">Reads</th></tr></thead>
      <tbody>${cameras.map((c) => {
        const hourly = c.readsPerHour.map((h) => h.reads);
        const total = hourly.reduce((a, b) => a + b, 0);
        return html`<tr key=${c.id} class=${c.silent ? 'silent' : ''}>
          <th scope="row">${c.id}</th><td>${c.siteId || '—'}</td><td><${State} camera=${c} /></td>
          <td><${Time} at=${c.lastSeen} /></td><td>${ago((now - new Date(c.lastSeen)) / 1000)}</td>
          <td>${c.usualGapSeconds == null ? '—' : ago(c.usualGapSeconds)}</td>
          <td><${Sparkline} values=${hourly} label=${`${total} reads in 24 hours, at most ${Math.max(...hourly)} an hour`} /></td>
          <td class="num">${number(c.readCount)}</td></tr>`;
      })}</tbody>
    </table>`;
}
