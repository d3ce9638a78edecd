"""Career analytics, skills progression and product usage events.

Two kinds of data live here. A user's own career metrics (``career_analytics``) and skill
assessments (``skills_progression``) sit in their ``pf_user_<username>_*`` tables and are
read and written only by that user (and by the metrics job on their behalf). Product usage
events from clients go to the shared ``pf_user_analytics`` table with personal data
stripped first; admins see only aggregates of them (:mod:`pathfinder.analytics.overview`).
"""
