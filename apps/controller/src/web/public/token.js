// The API token, entered once per browser and kept in localStorage; the IDE and the topology
// page both send it as `authorization: Bearer …` (HTTP header, and graphql-ws connectionParams).
'use strict';
(function () {
  const KEY = 'netloom.token';
  const get = () => localStorage.getItem(KEY) || '';

  /** A small form in `container`: a password field, Save and Forget; `onChange(token)` after each. */
  function mount(container, onChange) {
    container.classList.add('token-bar');
    container.innerHTML = '';
    const title = document.createElement('strong');
    title.textContent = 'NetLoom';
    const form = document.createElement('form');
    const input = Object.assign(document.createElement('input'), {
      type: 'password',
      id: 'token-input',
      placeholder: 'API token (nlt_…)',
      autocomplete: 'off',
      value: get(),
    });
    const save = Object.assign(document.createElement('button'), { type: 'submit', id: 'token-save', textContent: 'Use token' });
    const forget = Object.assign(document.createElement('button'), { type: 'button', id: 'token-forget', textContent: 'Forget' });
    const state = Object.assign(document.createElement('span'), { id: 'token-state' });
    const show = () => (state.textContent = get() ? 'token stored in this browser' : 'no token: enter one');
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      localStorage.setItem(KEY, input.value.trim());
      show();
      onChange(get());
    });
    forget.addEventListener('click', () => {
      localStorage.removeItem(KEY);
      input.value = '';
      show();
      onChange('');
    });
    form.append(input, save, forget);
    container.append(title, form, state);
    show();
  }

  window.NetloomToken = {
    get,
    /** The header value, or undefined without a token. */
    authorization: () => (get() ? `Bearer ${get()}` : undefined),
    mount,
  };
})();
