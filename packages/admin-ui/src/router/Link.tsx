import type { AnchorHTMLAttributes, MouseEvent } from 'react';
import { href, navigate } from './location.ts';

interface LinkProps extends Omit<AnchorHTMLAttributes<HTMLAnchorElement>, 'href'> {
  /** An admin path, e.g. `/changes/12`. */
  to: string;
}

/** A real link (it opens in a new tab, copies, and works with the keyboard) that navigates in place. */
export function Link({ to, onClick, ...rest }: LinkProps) {
  const handleClick = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(to);
  };
  return <a href={href(to)} onClick={handleClick} {...rest} />;
}
