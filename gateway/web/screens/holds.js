// Placing and releasing legal holds (admin scope), for the plate page and the
// admin screen: the placeLegalHold and releaseLegalHolds mutations.
import { useState } from 'preact/hooks';
import { gql } from '../api.js';
import { ErrorBox, html } from '../ui.js';

const PLACE = `mutation Place($plate: String, $caseNumber: String, $reason: String!) {
  placeLegalHold(plate: $plate, caseNumber: $caseNumber, reason: $reason) { id } }`;
const RELEASE = `mutation Release($id: ID!, $reason: String!) {
  releaseLegalHolds(id: $id, reason: $reason) { id } }`;

/** Place a hold on `plate` (or on the plate typed when none is given). */
export function PlaceHold({ plate, onDone, idPrefix }) {
  const [form, setForm] = useState({ plate: '', caseNumber: '', reason: '' });
  const [state, setState] = useState({ busy: false, error: null, note: null });
  const set = (name) => (e) => setForm({ ...form, [name]: e.target.value });
  const submit = async (event) => {
    event.preventDefault();
    setState({ busy: true, error: null, note: null });
    try {
      const placed = (await gql(PLACE, { plate: plate || form.plate, caseNumber: form.caseNumber.trim() || null,
        reason: form.reason })).placeLegalHold;
      setState({ busy: false, error: null, note: `Hold #${placed.id} placed.` });
      setForm({ plate: '', caseNumber: '', reason: '' });
      onDone();
    } catch (error) {
      setState({ busy: false, error, note: null });
    }
  };
  return html`<form class="filters" onSubmit=${submit}>
    ${plate ? null : html`<label for=${`${idPrefix}-plate`}>Plate</label>
      <input id=${`${idPrefix}-plate`} required maxlength="20" value=${form.plate} onInput=${set('plate')} />`}
    <label for=${`${idPrefix}-case`}>Case</label>
    <input id=${`${idPrefix}-case`} maxlength="100" value=${form.caseNumber} onInput=${set('caseNumber')} />
    <label for=${`${idPrefix}-reason`}>Reason</label>
    <input id=${`${idPrefix}-reason`} required value=${form.reason} onInput=${set('reason')} />
    <button type="submit" disabled=${state.busy}>Place hold</button>
    ${state.note ? html`<span role="status">${state.note}</span>` : null}
    <${ErrorBox} error=${state.error} />
  </form>`;
}

/** "Release" on an active hold: asks why, inline, then releases. */
export function ReleaseHold({ hold, onDone }) {
  const [asking, setAsking] = useState(false);
  const [reason, setReason] = useState('');
  const [error, setError] = useState(null);
  if (!hold.active) return null;
  if (!asking) {
    return html`<button type="button" class="secondary" aria-label=${`Release hold #${hold.id}`}
      onClick=${() => setAsking(true)}>Release</button>`;
  }
  const submit = async (event) => {
    event.preventDefault();
    setError(null);
    try {
      await gql(RELEASE, { id: hold.id, reason });
      setAsking(false);
      onDone();
    } catch (e) {
      setError(e);
    }
  };
  const id = `release-${hold.id}`;
  return html`<form class="filters" onSubmit=${submit}>
    <label for=${id}>Why release hold #${hold.id}?</label>
    <input id=${id} required autofocus value=${reason} onInput=${(e) => setReason(e.target.value)} />
    <button type="submit">Release</button>
    <button type="button" class="secondary" onClick=${() => setAsking(false)}>Cancel</button>
    <${ErrorBox} error=${error} />
  </form>`;
}
