"""Predicted customer value: BG/NBD (purchases, P(alive)) and Gamma-Gamma (spend).

``btyd`` holds the models, ``step`` the pipeline step that reads its inputs from the
warehouse and writes ``pred_customer_value`` back. Nothing is imported here, so the
package is cheap to import from a DAG file.
"""
