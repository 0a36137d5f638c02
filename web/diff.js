// A line diff: longest common subsequence over the lines that differ after
// the common head and tail are cut off. Config files are small; past
// MAX_CELLS the middle is shown as removed-then-added instead.

const MAX_CELLS = 4_000_000;

/** Splits a text into lines; a final newline does not make an empty last line. */
export function lines(text) {
  if (text === null || text === undefined || text === "") return [];
  const all = text.split("\n");
  if (all[all.length - 1] === "") all.pop();
  return all;
}

/**
 * The edit script from `a` to `b` (arrays of lines): a list of
 * {op: " " | "-" | "+", text, a: old line number or null, b: new line number or null}.
 */
export function diffLines(a, b) {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head += 1;
  let tail = 0;
  while (
    tail < a.length - head &&
    tail < b.length - head &&
    a[a.length - 1 - tail] === b[b.length - 1 - tail]
  ) {
    tail += 1;
  }
  const midA = a.slice(head, a.length - tail);
  const midB = b.slice(head, b.length - tail);
  const out = [];
  for (let i = 0; i < head; i += 1) out.push({ op: " ", text: a[i], a: i + 1, b: i + 1 });
  for (const step of middle(midA, midB)) {
    out.push({
      op: step.op,
      text: step.text,
      a: step.a === null ? null : step.a + head + 1,
      b: step.b === null ? null : step.b + head + 1,
    });
  }
  for (let k = tail; k > 0; k -= 1) {
    const i = a.length - k;
    const j = b.length - k;
    out.push({ op: " ", text: a[i], a: i + 1, b: j + 1 });
  }
  return out;
}

function middle(a, b) {
  const n = a.length;
  const m = b.length;
  if ((n + 1) * (m + 1) > MAX_CELLS) {
    return [
      ...a.map((text, i) => ({ op: "-", text, a: i, b: null })),
      ...b.map((text, j) => ({ op: "+", text, a: null, b: j })),
    ];
  }
  // len[i][j]: LCS length of a[i..] and b[j..].
  const width = m + 1;
  const len = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i -= 1) {
    for (let j = m - 1; j >= 0; j -= 1) {
      len[i * width + j] =
        a[i] === b[j]
          ? len[(i + 1) * width + j + 1] + 1
          : Math.max(len[(i + 1) * width + j], len[i * width + j + 1]);
    }
  }
  const steps = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      steps.push({ op: " ", text: a[i], a: i, b: j });
      i += 1;
      j += 1;
    } else if (len[(i + 1) * width + j] >= len[i * width + j + 1]) {
      steps.push({ op: "-", text: a[i], a: i, b: null });
      i += 1;
    } else {
      steps.push({ op: "+", text: b[j], a: null, b: j });
      j += 1;
    }
  }
  for (; i < n; i += 1) steps.push({ op: "-", text: a[i], a: i, b: null });
  for (; j < m; j += 1) steps.push({ op: "+", text: b[j], a: null, b: j });
  return steps;
}

/** Counts of added and removed lines. */
export function stats(script) {
  let added = 0;
  let removed = 0;
  for (const s of script) {
    if (s.op === "+") added += 1;
    else if (s.op === "-") removed += 1;
  }
  return { added, removed };
}

/**
 * Groups the script for display: runs of unchanged lines longer than
 * 2 * context + 1 become {fold: [lines]} between the changes' context.
 */
export function fold(script, context = 3) {
  const out = [];
  let run = [];
  const flush = (atStart, atEnd) => {
    const keepHead = atStart ? 0 : context;
    const keepTail = atEnd ? 0 : context;
    if (run.length > keepHead + keepTail + 1) {
      out.push(...run.slice(0, keepHead));
      out.push({ fold: run.slice(keepHead, run.length - keepTail) });
      out.push(...run.slice(run.length - keepTail));
    } else {
      out.push(...run);
    }
    run = [];
  };
  let seenChange = false;
  for (const step of script) {
    if (step.op === " ") {
      run.push(step);
    } else {
      flush(!seenChange, false);
      seenChange = true;
      out.push(step);
    }
  }
  if (seenChange) flush(false, true);
  else out.push(...run);
  return out;
}
