"""How the page looks and the keyboard shortcuts: passed to `launch()`, as Gradio 6 wants."""

from __future__ import annotations

import gradio as gr

from ui import lightbox, runbar

CSS = """
/* Hint text at WCAG AA: #4b5563 on the Soft theme's #f9fafb is 7.2:1 (the theme's #9ca3af was ~2.5:1). */
:root, .gradio-container {
  --block-info-text-color: #4b5563 !important; --body-text-color-subdued: #4b5563 !important;
}
.dark, .dark .gradio-container {
  --block-info-text-color: #d1d5db !important; --body-text-color-subdued: #d1d5db !important;
}
/* A focus ring you can see on every control. */
.gradio-container :is(button, input, textarea, select, a, [tabindex]):focus-visible {
  outline: 3px solid #1d4ed8 !important; outline-offset: 2px !important;
}
.dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 4px; }
.dot.ready { background: #16a34a; } .dot.off { background: #6b7280; }
#run-summary p { margin: 0; }
#run-summary, #viewer { scroll-margin-top: 56px; }  /* below the run bar when scrolled to */
#viewer-caption p { margin: 0; font-size: 0.95rem; overflow-wrap: anywhere; }
.backend-col { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px; }
.backend-col h3 { margin: 0 0 2px 0; font-size: 1.05rem; }
.col-state { font-size: 0.9rem; color: #374151; }
.col-state.done { color: #166534; } .col-state.failed, .col-state.off { color: #991b1b; }
.col-state.cancelled { color: #4b5563; font-style: italic; }  /* neutral: the person stopped it */
.stepbar { height: 8px; background: #e5e7eb; border-radius: 4px; margin-top: 4px; overflow: hidden; }
.stepbar span { display: block; height: 100%; background: #2563eb; }
/* Local's newest step, a blurry glimpse at latent resolution: small, scaled smoothly, replaced each step. */
.step-previews { display: flex; gap: 4px; margin-top: 4px; flex-wrap: wrap; }
.step-preview { width: 96px; height: auto; border-radius: 4px; image-rendering: auto; }
/* Captions in full (the seed tag is the point), wrapped under each thumbnail instead of cut off. */
.colgal .caption-label, #history .caption-label {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
  position: static !important; max-width: none !important; font-size: 0.8rem;
}
.colgal .thumbnail-item, #history .thumbnail-item { height: auto !important; aspect-ratio: auto !important; }
.colgal .thumbnail-item img, #history .thumbnail-item img { object-fit: contain !important; max-height: 260px; }
/* The scoreboard's cells wrap between words only: on a phone its nine columns scroll sideways instead of
   breaking "Filtered" letter by letter. */
#scoreboard .wrap, #scoreboard span { word-break: keep-all !important; overflow-wrap: normal !important; }
/* ---- overlaps (issue 18, item 9) ---- */
/* A dropdown's text stops before its arrow instead of running under it. */
.gradio-container input[role=combobox] { padding-right: 2em !important; text-overflow: ellipsis; }
/* The History and Grid labels sit above their images, not over the thumbnails or the grid's prompt. */
#history > label[data-testid=block-label], #grid-image > label[data-testid=block-label] {
  position: static !important; margin-bottom: 4px;
}
#history .grid-container.pt-6 { padding-top: 0 !important; }
/* The history grows with the page rather than scrolling inside a fixed box that cuts captions. */
#history, #history .grid-wrap { height: auto !important; max-height: none !important; overflow: visible !important; }
/* A column's gallery is as tall as its thumbnails, not a fixed box with a blank half. */
.colgal .grid-wrap { height: auto !important; min-height: 0 !important; max-height: none !important; }
/* Captions stay readable when their thumbnail is the selected one (Gradio pales them). */
.colgal .caption-label, #history .caption-label,
.colgal .thumbnail-item.selected .caption-label, #history .thumbnail-item.selected .caption-label {
  color: var(--body-text-color) !important; opacity: 1 !important;
}
/* The scoreboard scrolls sideways on a phone, and says so. */
#scoreboard .table-wrap, #scoreboard .table-container { overflow-x: auto !important; }
#score-hint { display: none; }
@media (max-width: 640px) {
  #viewer { height: auto !important; }
  #viewer img { max-height: 62vh; }
  #score-hint { display: block; }
  /* Two thumbnails a row: four overflowed the page sideways once the history stopped clipping. */
  #history .grid-container { --grid-cols: 2 !important; grid-template-columns: repeat(2, minmax(0, 1fr)) !important; }
  #score-hint p { margin: 0; font-size: 0.85rem; }
  /* A finger is about 44 px (Apple's and WCAG's minimum target): the image actions and the galleries' icons. */
  #reuse-seed, #reuse-settings, #download-png { min-height: 44px !important; }
  .colgal .icon-button-wrapper button, #history .icon-button-wrapper button, #viewer .icon-button-wrapper button {
    min-width: 44px !important; min-height: 44px !important;
  }
}
"""

HEAD = """
<script>
(() => {
  // Esc cancels a run only when it isn't meant for something else: a text field, an open list, a preview.
  const textLike = (el) => !!el && (el.isContentEditable || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT' ||
    (el.tagName === 'INPUT' && !['checkbox', 'radio', 'button', 'range', 'file', 'submit'].includes(el.type)));
  const listOpen = () => [...document.querySelectorAll('[role=listbox]')].some((u) => u.offsetParent !== null);
  document.addEventListener('keydown', (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') {
      e.preventDefault();
      document.querySelector('#generate-btn')?.click();
    } else if (e.key === 'Escape') {
      if (window.__fluxLightboxOpen?.() || document.fullscreenElement) return;  // Esc closes those first
      if (listOpen()) {
        closeLists(null);  // Esc closes an open list and still cancels the run (issue 18, item 2)
      } else if (textLike(e.target) || e.target.closest?.('#ab-slider')) {
        return;
      }
      const cancel = document.querySelector('#cancel-btn');
      if (cancel && !cancel.disabled) cancel.click();
    }
  }, true);  // capture: decide before a list closes itself on the same key

  // A dropdown's list closes when its box loses focus; Gradio's can stay open after Tab or a click
  // elsewhere, over the form. Close every open list whose dropdown the focus or click is not in.
  const closeLists = (keep) => {
    for (const input of document.querySelectorAll('input[role=combobox][aria-expanded=true]')) {
      const block = input.closest('.block');
      if (keep && block?.contains(keep)) continue;
      input.dispatchEvent(new FocusEvent('blur'));
      if (document.activeElement === input) input.blur();
    }
  };
  document.addEventListener('focusin', (e) => closeLists(e.target), true);
  document.addEventListener('pointerdown', (e) => closeLists(e.target), true);
  // Gradio's dropdown reopens its list on any key but Esc, a beat after the blur that Tab causes:
  // Tab leaving a dropdown is kept from its key handler, so the blur's close stands.
  window.addEventListener('keydown', (e) => {
    if (e.key === 'Tab' && e.target instanceof HTMLInputElement && e.target.getAttribute('role') === 'combobox') {
      e.stopPropagation();
    }
  }, true);

  // A slider's number box clamps a typed value when it loses focus. Remember what was typed, so the
  // run it would start says so instead of sending the clamped value unseen (see events.GENERATE_JS).
  window.__fluxClamped = window.__fluxClamped || [];
  document.addEventListener('blur', (e) => {
    const el = e.target;
    if (!(el instanceof HTMLInputElement) || el.type !== 'number') return;
    const block = el.closest('.block');
    if (!block || !block.querySelector('input[type=range]')) return;
    const label = (block.querySelector('label')?.textContent || block.id || 'A value').trim().split('\\n')[0];
    window.__fluxClamped = window.__fluxClamped.filter((n) => n.label !== label);
    const v = parseFloat(el.value), lo = parseFloat(el.min), hi = parseFloat(el.max);
    if ([v, lo, hi].some(Number.isNaN) || (v >= lo && v <= hi)) return;
    const now = String(Math.min(Math.max(v, lo), hi));
    window.__fluxClamped.push({label, value: el.value, min: el.min, max: el.max, now});
  }, true);

  // On a phone the settings start folded, so the prompt, Generate and the results are close together.
  // (Retried: a click before the page has hydrated does nothing; stops once folded, or after 15 s.)
  if (window.innerWidth < 640) {
    let tries = 0;
    const fold = setInterval(() => {
      const button = document.querySelector('#settings .label-wrap');
      if (++tries > 75 || (button && !button.classList.contains('open'))) return clearInterval(fold);
      button?.click();
    }, 200);
  }
})();
</script>
"""
# Uploads: the only one is the restore PNG, a few MB at most; bigger ones are refused before
# they reach a handler (or Gradio's cache). Change it with MAX_UPLOAD_MB (read in app.py).
MAX_UPLOAD = "10mb"
LAUNCH_OPTIONS = {
    "css": CSS,
    # Their styles go in <style> tags of their own: they style elements outside Gradio's container,
    # and Gradio's processing of `css` dropped their phone (@media) rules.
    "head": HEAD + f"<style>{lightbox.CSS}{runbar.CSS}</style>" + lightbox.JS + runbar.JS,
    "theme": gr.themes.Soft(),
    "max_file_size": MAX_UPLOAD,
}
