// What a fuzzy entry would accept: the generated misreads within its max
// cost (fuzzyMisreads, cheapest first, differing characters marked) and the
// stored plates it would have hit (plate search, fuzzy, at the same cost).
import { html, useQuery, ErrorBox, Loading, PlateLink, Time, number } from '../ui.js';

const MISREADS = `query Misreads($plate: String!, $maxCost: Float!) {
  fuzzyMisreads(plate: $plate, maxCost: $maxCost, first: 60) { plate maxCost more misreads { plate cost edits } } }`;
const HITS = `query Hits($plate: String!, $maxCost: Float!) {
  plateSearch(query: $plate, mode: FUZZY, maxDistance: $maxCost, first: 20) {
    complete edges { node { plate score readCount lastSeen } } } }`;

/** The read, its characters that differ from the entry marked (insertions and substitutions). */
function Marked({ text, edits }) {
  const marks = new Set(edits.filter((e) => e.kind !== 'deletion').map((e) => e.readPosition));
  return html`<span class="plate">${[...text].map((c, i) => (marks.has(i) ? html`<mark>${c}</mark>` : c))}</span>`;
}

function Generated({ plate, maxCost }) {
  const { data, error } = useQuery(MISREADS, { plate, maxCost }, [plate, maxCost]);
  if (error) return html`<${ErrorBox} error=${error} />`;
  if (!data) return html`<${Loading} what="misreads" />`;
  const p = data.fuzzyMisreads;
  return html`<table class="misreads"><caption>${p.misreads.length}${p.more ? '+' : ''} reads it would accept, cheapest first</caption>
    <thead><tr><th scope="col">Read</th><th scope="col" class="num">Cost</th></tr></thead>
    <tbody>${p.misreads.map((m) => html`<tr key=${m.plate}><td><${Marked} text=${m.plate} edits=${m.edits} /></td>
      <td class="num">${m.cost}</td></tr>`)}</tbody></table>`;
}

function Stored({ plate, maxCost }) {
  const { data, error } = useQuery(HITS, { plate, maxCost }, [plate, maxCost]);
  if (error) return html`<${ErrorBox} error=${error} />`;
  if (!data) return html`<${Loading} what="stored plates" />`;
  const rows = data.plateSearch.edges.map((e) => e.node);
  if (!rows.length) return html`<p>No stored plate within cost ${maxCost}.</p>`;
  return html`<table><caption>Stored plates it would have hit${data.plateSearch.complete ? '' : ' (search incomplete)'}</caption>
    <thead><tr><th scope="col">Plate</th><th scope="col" class="num">Cost</th><th scope="col" class="num">Reads</th><th scope="col">Last seen</th></tr></thead>
    <tbody>${rows.map((m) => html`<tr key=${m.plate}><td><${PlateLink} plate=${m.plate} /></td><td class="num">${m.score}</td>
      <td class="num">${number(m.readCount)}</td><td><${Time} at=${m.lastSeen} /></td></tr>`)}</tbody></table>`;
}

export function MisreadPreview({ plate, maxCost, onDismiss }) {
  return html`<section aria-labelledby="misreads-title" class="panel">
    <h2 id="misreads-title">Misreads of <span class="plate">${plate.toUpperCase()}</span> up to cost ${maxCost}</h2>
    <p class="muted">A look-alike character (0/O/D, 8/B, 1/I, …) costs 0.25, any other change 1.</p>
    <div class="columns"><${Generated} plate=${plate} maxCost=${maxCost} /><${Stored} plate=${plate} maxCost=${maxCost} /></div>
    <button type="button" class="secondary" onClick=${onDismiss}>Close the preview</button>
  </section>`;
}
