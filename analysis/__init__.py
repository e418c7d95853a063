"""Tables, plotly figures and HTML reports built from a results store."""
