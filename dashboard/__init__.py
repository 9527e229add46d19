"""The app's Streamlit glue: the page catalog, URL state and the deep-link guard (pages/ holds only pages)."""
