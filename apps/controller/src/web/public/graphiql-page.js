// GraphiQL over this controller's API: queries and mutations over HTTP, subscriptions over the
// API's graphql-ws endpoint, both with the stored token. A new token renders a new fetcher.
'use strict';
(function () {
  const httpUrl = `${location.origin}/graphql`;
  const wsUrl = httpUrl.replace(/^http/, 'ws');
  const root = ReactDOM.createRoot(document.getElementById('graphiql'));
  const DEFAULT_QUERY = `# Enter your API token above (a viewer token can read everything).
{
  me { name role }
  hosts { edges { node { name vtepAddress agent { state appliedRevision } } } }
}
`;
  let wsClient;

  function render() {
    // (dispose rejects when the socket it was opening was refused: nothing to do then.)
    if (wsClient) Promise.resolve(wsClient.dispose()).catch(() => undefined);
    const authorization = NetloomToken.authorization();
    // connectionParams is read on each (re)connect; the API checks it in onConnect.
    wsClient = graphqlWs.createClient({ url: wsUrl, lazy: true, connectionParams: () => ({ authorization: NetloomToken.authorization() }) });
    const fetcher = GraphiQL.createFetcher({ url: httpUrl, wsClient, headers: authorization ? { authorization } : {} });
    root.render(
      React.createElement(GraphiQL, {
        key: authorization || 'none',
        fetcher,
        defaultQuery: DEFAULT_QUERY,
        shouldPersistHeaders: false,
        defaultEditorToolsVisibility: false,
      }),
    );
  }

  NetloomToken.mount(document.getElementById('token-bar'), render);
  render();
})();
