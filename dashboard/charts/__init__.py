"""Every chart of the dashboard, one module per page: pure DataFrame -> plotly Figure functions.

``from dashboard import charts`` keeps giving the shared colours and helpers and the Overview charts.
"""

from dashboard.charts.overview import *  # noqa: F403
from dashboard.charts.overview import GRAIN_DAYS, PALETTE, PRIMARY, SEGMENT_COLORS, color_map, style  # noqa: F401
