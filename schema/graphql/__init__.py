"""The GraphQL shapes of the API: types, inputs, enums, cursors. No I/O.

Fields that need data (a read's camera, a plate's reads) call the `Reader`
protocol on the request context (`schema.graphql.context`); the gateway
implements it with DataLoaders and SQL. Keeping the shapes here lets the SDL
be read and reviewed without the server.
"""
