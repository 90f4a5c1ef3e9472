// The arkworker sandbox viewer's only script: no framework, nothing fetched from elsewhere.
// Everything it reads comes from data attributes the server escaped; the pages work without it.
"use strict";

// Hovering a polygon or its entry in the list lights up both (within one pane).
function linkShapesAndEntries() {
  for (const pane of document.querySelectorAll(".pane")) {
    const light = (key, on) => {
      for (const node of pane.querySelectorAll(`[data-item="${CSS.escape(key)}"]`)) {
        node.classList.toggle("hot", on);
      }
    };
    for (const node of pane.querySelectorAll("[data-item]")) {
      node.addEventListener("mouseenter", () => light(node.dataset.item, true));
      node.addEventListener("mouseleave", () => light(node.dataset.item, false));
      if (node.classList.contains("shape")) {
        node.addEventListener("click", () => {
          const entry = pane.querySelector(`li[data-item="${CSS.escape(node.dataset.item)}"]`);
          if (entry) entry.scrollIntoView({ block: "nearest", behavior: "smooth" });
        });
      }
    }
  }
}

// "Full size" shows the image at the size it was fetched, scrolling; again fits it to the window.
function zoomButtons() {
  for (const button of document.querySelectorAll(".page .zoom")) {
    button.addEventListener("click", () => {
      const zoomed = button.closest(".page").classList.toggle("zoomed");
      button.textContent = zoomed ? "Fit" : "Full size";
    });
  }
}

// Choosing a source shows it at once; the form's button does the same without the script.
function autoSubmit() {
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
}

document.addEventListener("DOMContentLoaded", () => {
  linkShapesAndEntries();
  zoomButtons();
  autoSubmit();
});
