from mlops.cli import app

app(prog_name="mlops")
