"""The Streamlit playground: widgets and figures only; all maths lives in genmodels."""
