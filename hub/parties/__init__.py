"""Who the hub talks to and who talks to it: connector accounts (``accounts``), API tokens
and roles (``auth``), the people who sign in to the console (``users``), linking a shop by
OAuth (``linking``) and a shop's status report (``shop_status``)."""
