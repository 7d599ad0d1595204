"""Every chart of the dashboard, one module per page: pure DataFrame -> plotly Figure functions.

``theme`` holds the colours and the registered plotly template; ``from dashboard import charts`` keeps giving
the shared colours and helpers and the Overview charts.
"""

from dashboard.charts.overview import *  # noqa: F403
from dashboard.charts.theme import PALETTE, PRIMARY, SEGMENT_COLORS, color_map, style, use  # noqa: F401
