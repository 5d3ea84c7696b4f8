"""The layout stage: where the 12 lead panels (and rhythm strips) of a page are, whatever the
printout's layout (edge.leads does the finding)."""

from __future__ import annotations

from edge.leads import LayoutError, LeadConfig, LeadLayout, find_leads, marker_mask
from edge.page import Page


def find_layout(page: Page, config: LeadConfig) -> LeadLayout:
    """The lead layout of a levelled page. Raises LayoutError when no 12-lead layout is found."""
    try:
        return find_leads(page.traces, page.scale, config)
    except LayoutError:  # markers leaning on a photo can still join rows: look again for rows only
        return find_leads(page.ink & ~marker_mask(page.ink, config, leaning=True), page.scale, config)
