"""A run bar fixed to the top of the window while a run goes: elapsed time, each backend's state, Cancel.

The columns already carry each backend's state (ui/page/progress.py, refreshed by the page's timer), and
the Cancel button's enabled state says whether a run goes. The bar mirrors those in the browser, so
it needs no output of its own from the handlers: it appears when Cancel becomes enabled and goes
when the run ends. Its Cancel presses the page's Cancel (one code path, the same as Esc). A grid turns Cancel
on too; while it runs, the bar names the grid's cells instead of the columns.
"""

from __future__ import annotations

CSS = """
#run-bar { position: fixed; top: 0; left: 0; right: 0; z-index: 900; display: flex; align-items: center;
  gap: 12px; padding: 6px 16px; background: #1e3a8a; color: #fff; font-size: 0.9rem;
  box-shadow: 0 2px 6px rgba(0, 0, 0, 0.25); }
#run-bar[hidden] { display: none; }
#run-bar .rb-time { font-weight: 600; white-space: nowrap; font-variant-numeric: tabular-nums; }
#run-bar .rb-backends { display: flex; flex-wrap: wrap; gap: 4px 14px; flex: 1; min-width: 0; }
#run-bar .rb-backend { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-width: 100%; }
#run-bar .rb-backend.done { color: #bbf7d0; } #run-bar .rb-backend.failed { color: #fecaca; }
#run-bar .rb-backend.cancelled { color: #e5e7eb; font-style: italic; }
#run-bar .rb-step { display: inline-block; width: 48px; height: 6px; background: rgba(255, 255, 255, 0.3);
  border-radius: 3px; margin-left: 4px; vertical-align: middle; overflow: hidden; }
#run-bar .rb-step span { display: block; height: 100%; background: #fff; }
#run-bar button { background: #b91c1c; color: #fff; border: 0; border-radius: 6px; padding: 6px 14px;
  font-weight: 600; cursor: pointer; min-height: 36px; }
#run-bar button:focus-visible { outline: 3px solid #fde68a; outline-offset: 2px; }
@media (max-width: 640px) { #run-bar { font-size: 0.8rem; padding: 6px 8px; gap: 8px; } }
"""

JS = """
<script>
(() => {
  const bar = document.createElement('div');
  bar.id = 'run-bar';
  bar.hidden = true;
  bar.setAttribute('role', 'status');
  bar.setAttribute('aria-label', 'Run in progress');
  bar.innerHTML = '<span class="rb-time"></span><span class="rb-backends"></span>' +
    '<button type="button" aria-label="Cancel the run (Esc)">Cancel</button>';
  const time = bar.querySelector('.rb-time'), list = bar.querySelector('.rb-backends');
  bar.querySelector('button').addEventListener('click', () => document.querySelector('#cancel-btn')?.click());
  let started = null;

  // One entry per backend column in this run: its name, state word, and the step bar's width.
  const backends = () => [...document.querySelectorAll('.backend-col')].filter((c) => c.offsetParent !== null)
    .map((col) => {
      const state = col.querySelector('.col-state');
      const word = ['done', 'failed', 'cancelled', 'off'].find((w) => state?.classList.contains(w)) || 'running';
      const text = (state?.textContent || 'waiting').replace(/^Running · [\\d.]+ s · /, '').trim();
      const pct = col.querySelector('.stepbar')?.getAttribute('aria-valuenow');
      return {name: col.querySelector('h3')?.textContent?.trim() || '', word, text, pct};
    });

  const draw = () => {
    const cancel = document.querySelector('#cancel-btn');
    const running = !!cancel && !cancel.disabled;
    if (!running) {
      started = null;
      bar.hidden = true;
      return;
    }
    started = started ?? performance.now();
    bar.hidden = false;
    time.textContent = `Running · ${((performance.now() - started) / 1000).toFixed(1)} s`;
    // A grid's run: its own line (the columns above belong to the last Generate, not to this grid).
    const grid = document.querySelector('#grid-summary')?.textContent?.trim() || '';
    if (/^Running \\d+ cell/.test(grid)) {
      const item = document.createElement('span');
      item.className = 'rb-backend running';
      item.textContent = `X/Y grid: ${grid.replace(/^Running /, '').replace(/…$/, '')}`;
      list.replaceChildren(item);
      return;
    }
    list.replaceChildren(...backends().map((b) => {
      const item = document.createElement('span');
      item.className = `rb-backend ${b.word}`;
      item.textContent = `${b.name}: ${b.text}`;
      if (b.pct !== null && b.pct !== undefined && b.word === 'running') {
        const step = document.createElement('span');
        step.className = 'rb-step';
        step.innerHTML = `<span style="width:${Number(b.pct)}%"></span>`;
        item.appendChild(step);
      }
      return item;
    }));
  };
  const start = () => {
    document.body.appendChild(bar);
    setInterval(draw, 250);  // a light DOM read; the columns themselves update every 0.5 s
  };
  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start);
})();
</script>
"""
