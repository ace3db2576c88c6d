// Import a file into a list: previewed first (importHotlistFile with dryRun:
// the diff — added, removed, changed — and the refused rows with their
// reasons), then applied with the same file and options.
import { useRef, useState } from 'preact/hooks';
import { gql } from '../api.js';
import { ErrorBox, html, number } from '../ui.js';

const IMPORT = `mutation Import($hotlist: String!, $content: String!, $format: String, $replace: Boolean!,
    $dryRun: Boolean!, $defaultReason: String) {
  importHotlistFile(hotlist: $hotlist, content: $content, format: $format, replace: $replace,
      dryRun: $dryRun, defaultReason: $defaultReason) {
    dryRun rows accepted added removed changed unchanged rejectedCount revision
    rejected { line reason } addedPlates removedPlates changedPlates } }`;
const SHOWN = 200;

function formatOf(name) {
  const lower = name.toLowerCase().replace(/\.gz$/, '');
  if (lower.endsWith('.csv')) return 'csv';
  if (/\.(ndjson|jsonl|json)$/.test(lower)) return 'ndjson';
  return null;
}

function Plates({ title, plates, cls }) {
  if (!plates.length) return null;
  return html`<div class=${`diff-group ${cls}`}><h4>${title} (${number(plates.length)})</h4>
    <ul aria-label=${title}>${plates.slice(0, SHOWN).map((p) => html`<li class="plate">${p}</li>`)}
      ${plates.length > SHOWN ? html`<li class="muted">… and ${number(plates.length - SHOWN)} more</li>` : null}</ul></div>`;
}

function Report({ report }) {
  return html`<div class="import-report" role="status" aria-labelledby="import-report-title">
    <h3 id="import-report-title">${report.dryRun ? 'Preview: nothing is changed yet' : `Imported (revision ${report.revision})`}</h3>
    <dl class="summary">
      <div><dt>Rows</dt><dd>${number(report.rows)}</dd></div>
      <div><dt>Accepted</dt><dd>${number(report.accepted)}</dd></div>
      <div><dt>Added</dt><dd class="good">${number(report.added)}</dd></div>
      <div><dt>Removed</dt><dd class="bad">${number(report.removed)}</dd></div>
      <div><dt>Changed</dt><dd>${number(report.changed)}</dd></div>
      <div><dt>Unchanged</dt><dd>${number(report.unchanged)}</dd></div>
      <div><dt>Refused</dt><dd class=${report.rejectedCount ? 'bad' : ''}>${number(report.rejectedCount)}</dd></div>
    </dl>
    <div class="diff-groups">
      <${Plates} title="Added" plates=${report.addedPlates} cls="added" />
      <${Plates} title="Removed" plates=${report.removedPlates} cls="removed" />
      <${Plates} title="Changed" plates=${report.changedPlates} cls="changed" />
    </div>
    ${report.rejected.length ? html`<table><caption>Refused rows${report.rejectedCount > report.rejected.length ? ` (first ${report.rejected.length})` : ''}</caption>
      <thead><tr><th scope="col" class="num">Line</th><th scope="col">Reason</th></tr></thead>
      <tbody>${report.rejected.map((r) => html`<tr key=${r.line}><td class="num">${r.line}</td><td>${r.reason}</td></tr>`)}</tbody></table>` : null}
  </div>`;
}

export function ImportForm({ list, onImported }) {
  const [file, setFile] = useState(null);
  const [options, setOptions] = useState({ replace: false, defaultReason: '' });
  const [state, setState] = useState({ busy: false, report: null, error: null });
  const input = useRef(null);
  const run = async (dryRun) => {
    setState({ busy: true, report: dryRun ? null : state.report, error: null });
    try {
      const data = await gql(IMPORT, { hotlist: list.name, content: file.text, format: formatOf(file.name),
        replace: options.replace, dryRun, defaultReason: options.defaultReason.trim() || null });
      setState({ busy: false, report: data.importHotlistFile, error: null });
      if (!dryRun) onImported();
    } catch (error) {
      setState({ busy: false, report: null, error });
    }
  };
  const choose = async (event) => {
    const chosen = event.target.files[0];
    setState({ busy: false, report: null, error: null });
    setFile(chosen ? { name: chosen.name, text: await chosen.text() } : null);
  };
  const previewed = state.report && state.report.dryRun;
  return html`<section aria-labelledby="import-title"><h2 id="import-title">Import a file into ${list.name}</h2>
    <p class="muted">CSV or NDJSON with a header naming the plate, reason, region… columns (as <code>alpr hotlist import</code>).
      The import is previewed first; nothing changes until you apply it.</p>
    <form class="filters" onSubmit=${(e) => { e.preventDefault(); run(true); }}>
      <label for="import-file">File</label>
      <input id="import-file" ref=${input} type="file" accept=".csv,.ndjson,.jsonl,.json,text/csv" onChange=${choose} />
      <input id="import-replace" type="checkbox" checked=${options.replace}
        onChange=${(e) => { setOptions({ ...options, replace: e.target.checked }); setState({ ...state, report: null }); }} />
      <label for="import-replace">Replace: remove entries the file does not name</label>
      <label for="import-reason">Reason for rows without one</label>
      <input id="import-reason" value=${options.defaultReason}
        onInput=${(e) => { setOptions({ ...options, defaultReason: e.target.value }); setState({ ...state, report: null }); }} />
      <button type="submit" disabled=${!file || state.busy}>Preview import</button>
      <button type="button" disabled=${!previewed || state.busy} onClick=${() => run(false)}>Apply import</button>
    </form>
    <${ErrorBox} error=${state.error} />
    ${state.report ? html`<${Report} report=${state.report} />` : null}
  </section>`;
}
