"""Machinery: production monitoring: read prediction logs, compare them with the training
window (Evidently), raise the drift issue, publish the Pages site, open the retraining pull
request, and replay a month of data as traffic. No need to edit."""
