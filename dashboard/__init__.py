"""The app's Streamlit glue: the page catalog, URL state and the deep-link guard (pages/ holds only pages).

Where things are:

- links: each control declared once and drawn bound to the address, share and reset (``url_state.py``),
  the training settings (``training_controls.py``), which run a page shows (``run_link.py``);
- page sections, named by what they show: ``training_evaluation.py``, ``run_comparison.py``,
  ``weight_templates.py``, ``image_explanation.py``, ``own_picture.py``, ``calibration_comparison.py``,
  ``best_linear_model.py``, ``batch_table.py``, ``confusion_cell.py``, ``run_downloads.py``;
- each page's shared results: ``caches/``, one module per page;
- the training queue's widgets (``training_jobs.py``); lecture mode (``lecture.py``, and ``room_watch.py``: the
  server waking followers when the lecturer moves); sign-in (``sign_in.py``);
- presenter mode and every chart with its text alternative (``presenter.py``); user text shown as text
  (``user_text.py``);
- every use of Streamlit's private internals, each with its upstream issue (``streamlit_internals.py``).
"""
