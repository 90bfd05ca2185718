"""An application that uses the Fraggle extension: ``doozer --app fraggle_app fraggle ...``."""

from fraggle import Fraggle

from doozer import Application

app = Application("fraggle-rock")
Fraggle(app)
