// Confirmation of a destructive action, in the page (a modal <dialog>: the
// rest of the page is inert, Escape cancels, focus starts on Cancel and
// returns where it was).

import { $ } from './dom.js';

/**
 * Asks before doing something that cannot be undone; resolves true only on
 * the confirming button.
 * @param {{title: string, text: string, confirm: string}} what
 */
export function confirmAction({ title, text, confirm }) {
  const dialog = $('#confirm-dialog');
  // Asked from a row's "More" menu: the menu closes, and focus goes back to its button.
  const menu = document.activeElement?.closest('details.more');
  if (menu) menu.open = false;
  const returnTo = menu ? menu.querySelector('summary') : document.activeElement;
  $('#confirm-title').textContent = title;
  $('#confirm-text').textContent = text;
  $('#confirm-ok').textContent = confirm;
  return new Promise((resolve) => {
    dialog.addEventListener(
      'close',
      () => {
        resolve(dialog.returnValue === 'confirm');
        if (returnTo?.isConnected) returnTo.focus();
      },
      { once: true },
    );
    dialog.returnValue = 'cancel';
    dialog.showModal();
    $('#confirm-cancel').focus();
  });
}
