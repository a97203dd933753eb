# ruff: noqa: W191, B904
# The key-value store from the original web.py README, unchanged but for the
# import and `saved` (its tabs and bare re-raises included): it must keep working
# as written. `saved` is a store instead of a dict so that every worker process
# sees the same data (HTTPServer(processes=N)); SQLiteStore('kv.sqlite3') keeps
# it in a file, PostgresStore('postgresql://...') shares it between machines.
# The server starts only when run as a script, so importing the routes (the
# test client, python -m webpy --app examples.keyvalue:routes) opens no socket.

import webpy as web
from webpy.app.store import SQLiteStore

saved = SQLiteStore()

class Handler(web.HTTPHandler):
	def do_get(self):
		try:
			return 200, saved[self.groups[0]]
		except KeyError:
			raise web.HTTPError(404)

	def do_put(self):
		saved[self.groups[0]] = self.request.body

		return 200, 'Accepted'

	def do_delete(self):
		try:
			del saved[self.groups[0]]
		except KeyError:
			raise web.HTTPError(404)

		return 200, 'Deleted'

routes = { '/(.*)': Handler }

if __name__ == '__main__':
	httpd = web.HTTPServer(('localhost', 8080), routes)
	httpd.start()
