"""How the page looks and the keyboard shortcuts: passed to `launch()`, as Gradio 6 wants."""

from __future__ import annotations

import gradio as gr

CSS = """
.dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 4px; }
.dot.ready { background: #16a34a; } .dot.off { background: #9ca3af; }
#run-summary p { margin: 0; }
.backend-col { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px; }
.backend-col .prose h3 { margin: 0 0 4px 0; }
/* A lone comparison image: whole and letterboxed, however wide the column is (not a square crop). */
[id^=colgal-] .grid-container[style*="--grid-cols: 1;"] .thumbnail-item {
  aspect-ratio: auto !important; height: 330px;
}
[id^=colgal-] .thumbnail-item img { object-fit: contain !important; width: 100%; height: 100%; }
"""
HEAD = """
<script>
document.addEventListener('keydown', (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') {
    e.preventDefault();
    document.querySelector('#generate-btn')?.click();
  } else if (e.key === 'Escape' && !e.target.closest?.('.gallery, [id^=colgal-], #history')) {
    // Esc also closes image previews: only cancel when it isn't aimed at a gallery.
    document.querySelector('#cancel-btn')?.click();
  }
});
</script>
"""
# Uploads: the only one is the restore PNG, a few MB at most; bigger ones are refused before
# they reach a handler (or Gradio's cache). Change it with MAX_UPLOAD_MB (read in app.py).
MAX_UPLOAD = "10mb"
LAUNCH_OPTIONS = {"css": CSS, "head": HEAD, "theme": gr.themes.Soft(), "max_file_size": MAX_UPLOAD}
