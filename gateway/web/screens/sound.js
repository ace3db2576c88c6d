// The optional alert sound: a short two-tone beep made with Web Audio (no
// file to ship). Off unless the user turns it on; the choice is kept for the
// tab (sessionStorage). Browsers only allow sound after a user gesture: the
// toggle itself is one, and plays a beep to confirm.
const KEY = 'alpr.alertSound';
let context = null;

/** Whether the sound is on; with `on`, set it. */
export function soundWanted(on) {
  if (on !== undefined) on ? sessionStorage.setItem(KEY, '1') : sessionStorage.removeItem(KEY);
  return sessionStorage.getItem(KEY) === '1';
}

/** Two short tones; silently nothing where Web Audio is unavailable. */
export function beep() {
  const Audio = window.AudioContext || window.webkitAudioContext;
  if (!Audio) return;
  if (context === null) context = new Audio();
  const start = context.currentTime;
  [[880, 0], [660, 0.16]].forEach(([frequency, offset]) => {
    const tone = context.createOscillator();
    const gain = context.createGain();
    tone.frequency.value = frequency;
    gain.gain.setValueAtTime(0.2, start + offset);
    gain.gain.exponentialRampToValueAtTime(0.001, start + offset + 0.14);
    tone.connect(gain).connect(context.destination);
    tone.start(start + offset);
    tone.stop(start + offset + 0.15);
  });
}
