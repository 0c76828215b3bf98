import type { ActorRef } from '@auditrum/core/admin';
import type { ChangeEvent } from 'react';
import { useEffect, useId, useRef, useState } from 'react';
import { useRoute } from '../api/routes.ts';
import type { FilterError } from '../lib/filter-error.ts';
import { invalidField } from '../lib/filter-error.ts';
import { FieldError } from './FieldError.tsx';

/** Wait this long after the last key before asking for suggestions. */
const TYPING_PAUSE_MS = 200;

/** The actor whose label is exactly `text` (any case), if one of the suggestions. */
function byLabel(actors: readonly ActorRef[], text: string): ActorRef | undefined {
  const wanted = text.trim().toLowerCase();
  return actors.find((actor) => actor.label !== null && actor.label.toLowerCase() === wanted);
}

/**
 * The actor filter (it takes an id): suggestions by label or id as the user types (`api/actors`), and a label typed
 * in full, as the list shows it (`carol@shop.test`), turned into that actor's id.
 */
export function ActorFilterInput({ value, error }: { value: string; error: FilterError | null }) {
  const listId = useId();
  const [typed, setTyped] = useState(value);
  const [asked, setAsked] = useState('');
  const [chosen, setChosen] = useState<ActorRef | null>(null);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    const timer = setTimeout(() => setAsked(typed.trim()), TYPING_PAUSE_MS);
    return () => clearTimeout(timer);
  }, [typed]);
  const suggestions = useRoute('actors', asked ? { q: asked } : null);
  const actors = suggestions.status === 'ok' ? suggestions.data.actors : [];
  const onChange = (event: ChangeEvent<HTMLInputElement>) => {
    const match = byLabel(actors, event.target.value);
    if (match) event.target.value = match.id;
    setChosen(match ?? null);
    setTyped(event.target.value);
  };
  // A label pasted or typed faster than the suggestions came: resolved when they come.
  useEffect(() => {
    const field = input.current;
    const match = field ? byLabel(actors, field.value) : undefined;
    if (!field || !match) return;
    field.value = match.id;
    setChosen(match);
    setTyped(match.id);
  }, [actors]);
  return (
    <label>
      Actor
      <input
        name="actor"
        ref={input}
        defaultValue={value}
        autoComplete="off"
        list={listId}
        placeholder="name or id"
        onChange={onChange}
        {...invalidField('actor', error)}
      />
      <datalist id={listId}>
        {actors.map((actor) => (
          <option key={actor.id} value={actor.id}>
            {actor.label ?? actor.id}
          </option>
        ))}
      </datalist>
      {chosen && (
        <span className="field-hint">
          {chosen.label}: id {chosen.id}
        </span>
      )}
      <FieldError name="actor" error={error} />
    </label>
  );
}
