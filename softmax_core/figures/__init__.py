"""Pure figure builders: data in, plotly figure out, no streamlit, no hard-coded colours.

Colours come from the app theme (Streamlit applies its categorical palette to
plotly figures drawn with theme="streamlit"), so light and dark modes both work.
"""
