"""Chat with the career assistant: the caller's conversations and messages.

Conversations and messages live in the caller's own tables; message content and
conversation context are encrypted at rest. The assistant is a provider
(:mod:`pathfinder.chat.providers`): built-in and offline by default, or an
OpenAI-compatible server when configured. See ``docs/chat-and-analytics.md``.
"""
