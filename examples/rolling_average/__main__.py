"""``python -m examples.rolling_average``: serve the example on ``$PORT`` (a container would run gunicorn with
``examples.rolling_average:create_app()``)."""

import os

from examples.rolling_average import create_app

if __name__ == "__main__":
    create_app().run(host="127.0.0.1", port=int(os.environ.get("PORT", "8095")), threaded=True)
