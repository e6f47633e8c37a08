"""Self-contained HTML reports with embedded matplotlib figures.

``html.HtmlReport`` builds one page (headings, paragraphs, tables, PNG figures as data URIs:
no external resource at all); ``figures`` draws the usual figures from plain sequences;
``plotting.pyplot`` imports matplotlib on first use, on the Agg backend. matplotlib is the
optional extra ``report`` (``pip install 'data-feeds[report]'``) and is only imported when a
figure is drawn, never when this package is imported.
"""
